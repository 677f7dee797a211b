"""Sensitivity of neural sites to small L2 perturbations (Guo et al., ICML 2022).

s_i(x, ε) = max over ‖δ‖₂ ≤ ε of |r_i(x + δ) − r_i(x)|, and its normalised form s̃_i = E_x[s_i(x, ε)] / σ_i with
σ_i = std_x r_i(x). The maximum is searched on a differentiable stand-in of the site — a readout — by L2 PGD as
the paper describes: independent restarts, the + and − directions optimised separately, a ball of radius 2ε first
and then ε, and a step that starts at ε and shrinks by 10 % whenever an iteration makes no progress. The found δ
is then measured on the site itself with the paper's estimator sign(f_i(x + δ) − f_i(x)) · (r_i(x + δ) − r_i(x)),
which stays unbiased when r_i is noisy and counts a readout that moves the wrong way as negative transfer.

Random directions on the ε-sphere give a lower bound on s_i; attacking the site itself (white-box) the upper.
"""

from __future__ import annotations

from typing import Callable, Literal

import numpy as np
import torch
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.attack.threat import project, random_start, steepest_direction

Sites = Callable[[torch.Tensor], torch.Tensor]  # images (B, ...) → site responses (B, S)


class SiteAttackConfig(ConfigModel):
    steps: int = Field(40, ge=1, description="PGD iterations per restart: the first half in the 2ε ball, the rest "
                       "in the ε ball.")
    restarts: int = Field(10, ge=1, description="Independent random starts per image, site and direction "
                          "(the paper: 100); the best by the attacked function is kept.")
    directions: Literal["both", "plus"] = Field(
        "both", description="both: maximise the increase and the decrease of the site separately and keep the "
        "larger; plus: the increase only."
    )
    shrink: float = Field(0.9, gt=0, lt=1, description="Step factor after an iteration without progress.")
    random_draws: int = Field(32, ge=1, description="Random directions on the ε-sphere per image (lower bound).")
    max_rows: int = Field(16384, ge=1, description="Rows (image × site × restart) attacked together; memory only.",
                          json_schema_extra={"identity": False})


def _site_values(fn: Sites, z: torch.Tensor, site: torch.Tensor) -> torch.Tensor:
    return fn(z).gather(1, site[:, None]).squeeze(1)


def _ascend(fn: Sites, x: torch.Tensor, site: torch.Tensor, sign: float, eps: float, bounds: tuple[float, float],
            cfg: SiteAttackConfig, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: the best point of the ε-ball ∩ box for sign · (f_site(z) − f_site(x)), and that value."""
    with torch.no_grad():
        base = _site_values(fn, x, site)

    def value_and_grad(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = z.detach().requires_grad_(True)
        with torch.enable_grad():
            value = sign * (_site_values(fn, z, site) - base)
            (grad,) = torch.autograd.grad(value.sum(), z)
        return value.detach(), grad

    z = random_start(x, 2 * eps, "l2", bounds, generator)
    best_value, best_z = torch.full_like(base, -float("inf")), x.clone()
    for radius, steps in ((2 * eps, cfg.steps // 2), (eps, cfg.steps - cfg.steps // 2)):
        z = project(z, x, radius, "l2", bounds)
        step = torch.full_like(base, eps)
        phase_best = torch.full_like(base, -float("inf"))
        for i in range(steps + (radius == eps)):  # the ε phase also scores its final iterate
            value, grad = value_and_grad(z)
            if radius == eps:
                better = value > best_value
                best_z[better] = z[better]
                best_value = torch.where(better, value, best_value)
            step = torch.where(value > phase_best, step, step * cfg.shrink)
            phase_best = torch.maximum(phase_best, value)
            if i < steps:
                direction = steepest_direction(grad, "l2")
                z = project(z + step.reshape((-1,) + (1,) * (z.dim() - 1)) * direction, x, radius, "l2", bounds)
    return best_z, best_value


def attack_sites(fn: Sites, x: torch.Tensor, eps: float, bounds: tuple[float, float], cfg: SiteAttackConfig,
                 seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For every image n, site i and direction d (+, then − when ``both``): the best perturbed image found
    (N, S, D, ...) and its signed change d · (f_i(x') − f_i(x)) (N, S, D). Each direction draws its restarts from
    its own generator, so the + direction is the same search whether or not the − one also runs."""
    with torch.no_grad():
        n_sites = fn(x[:1]).shape[1]
    signs = (1.0, -1.0) if cfg.directions == "both" else (1.0,)
    per_chunk = max(1, cfg.max_rows // (n_sites * cfg.restarts))
    best_x, best_value = [], []
    for d, sign in enumerate(signs):
        generator = torch.Generator().manual_seed(2 * seed + d)
        xs, values = [], []
        for start in range(0, len(x), per_chunk):
            chunk = x[start : start + per_chunk]
            rows = torch.arange(len(chunk)).repeat_interleave(n_sites * cfg.restarts)
            site = torch.arange(n_sites).repeat_interleave(cfg.restarts).repeat(len(chunk))
            z, value = _ascend(fn, chunk[rows], site, sign, eps, bounds, cfg, generator)
            value = value.reshape(len(chunk), n_sites, cfg.restarts)
            pick = value.argmax(2)
            z = z.reshape(len(chunk), n_sites, cfg.restarts, *x.shape[1:])
            xs.append(z[torch.arange(len(chunk))[:, None], torch.arange(n_sites)[None, :], pick])
            values.append(value.gather(2, pick[..., None]).squeeze(2))
        best_x.append(torch.cat(xs))
        best_value.append(torch.cat(values))
    return torch.stack(best_x, 2), torch.stack(best_value, 2)


@torch.no_grad()
def transferred_change(attacked: Sites, measured: Sites, x: torch.Tensor, x_found: torch.Tensor) -> torch.Tensor:
    """s_i(x) on ``measured`` for the points found on ``attacked`` (N, S, D, ...): per image and site, the largest
    over directions of sign(Δf_i) · Δr_i, Δ from x to the found point (Guo et al.'s unbiased estimator)."""
    n, s, d = x_found.shape[:3]
    flat = x_found.reshape(n * s * d, *x.shape[1:])
    site = torch.arange(s).repeat_interleave(d).repeat(n)
    image = torch.arange(n).repeat_interleave(s * d)
    change_f = _site_values(attacked, flat, site) - _site_values(attacked, x[image], site)
    change_r = _site_values(measured, flat, site) - _site_values(measured, x[image], site)
    return (torch.sign(change_f) * change_r).reshape(n, s, d).amax(2)


@torch.no_grad()
def random_change(measured: Sites, x: torch.Tensor, eps: float, bounds: tuple[float, float], draws: int,
                  seed: int) -> torch.Tensor:
    """The lower bound: per image and site, the largest |Δr_i| over ``draws`` uniform directions of the ε-sphere
    (clamped to the box, which only shortens them)."""
    generator = torch.Generator().manual_seed(seed)
    base, best = measured(x), None
    for _ in range(draws):
        direction = steepest_direction(torch.randn(x.shape, generator=generator), "l2")
        change = (measured(project(x + eps * direction, x, eps, "l2", bounds)) - base).abs()
        best = change if best is None else torch.maximum(best, change)
    return best


def normalised(sensitivity: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """s̃_i = mean over images of s_i / σ_i (N, S) → (S,); a site that nothing moves (s̃ numerator 0) scores 0,
    including a constant site (σ_i = 0)."""
    mean = np.asarray(sensitivity, dtype=float).mean(0)
    spread = np.asarray(spread, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean == 0, 0.0, mean / spread)
