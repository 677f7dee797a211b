"""CGD (Lin et al., ICML 2022): a targeted L∞ attack that does not project its iterates. It descends
(1 − w2)·P + w2·MD, where P penalises leaving the ε-box and MD is Σ_i ReLU(z_i − z_t), with Adam-style
normalised steps; the constraint is enforced by the penalty, and only the points it scores are rounded to the
data's grid and projected. As in the authors' code, the Adam bias correction counts iterations from the start
(i + 1) even though the moments are reset after the first, projected step, and the "shepherd" rule (how far an
iterate may stray before its MD weight halves) is decided once per batch from the batch's mean |g| at the first
step (``shepherd: example`` decides per example). Each example returns its first successful iterate (rounded
and projected) or, failing that, its random start."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.attack.base import AttackSettings, Batch, compact
from spotlab.tasks.attack.losses import md_loss
from spotlab.tasks.attack.threat import project, surface_start


class CGDConfig(AttackSettings):
    kind: Literal["cgd"] = "cgd"
    norm: Literal["linf"] = Field("linf", description="CGD is defined for the L∞ box only.")
    loss: Literal["md"] = Field("md", description="CGD descends the MD loss (fixed).")
    targeted: Literal[True] = Field(True, description="CGD is a targeted attack (fixed).")
    w1_ratio: float = Field(2.55, gt=0, description="Initial step scale w1 as a multiple of eps (the paper: "
                            "ε·255/100); halved every 15 iterations, starting at iteration 0.")
    w2: float = Field(0.1, gt=0, lt=1, description="Initial weight of the MD loss against the box penalty.")
    beta1: float = Field(0.1, ge=0, lt=1, description="Decay of the first gradient moment.")
    beta2: float = Field(0.01, ge=0, lt=1, description="Decay of the second gradient moment.")
    shepherd: Literal["batch", "example"] = Field(
        "batch", description="Who decides the shepherd rule after the first step: the whole batch from its mean |g| "
        "(the official code) or each example from its own."
    )

    def attack_batch(self, batch: Batch, generator: torch.Generator) -> None:
        eps, (lo, hi) = self.eps, batch.bounds
        x0 = surface_start(batch.x, eps, "linf", batch.bounds, generator)
        batch.finish(batch.candidate(x0))  # what a failure returns unless a later iterate succeeds
        n = len(x0)
        s = {
            "x": x0, "m": torch.zeros_like(x0), "v": torch.zeros_like(x0),
            "w2": torch.full((n,), self.w2, device=x0.device),
            "shepherd": torch.ones(n, dtype=torch.bool, device=x0.device),
        }
        w1 = self.w1_ratio * eps
        for i in range(self.steps):
            if i % 15 == 0:
                w1 /= 2
            upper, lower = (batch.x + eps).clamp(lo, hi), (batch.x - eps).clamp(lo, hi)
            violation = F.relu(s["x"] - upper) + F.relu(lower - s["x"])
            if i % 15 > 4:
                # Shrink the MD weight of examples that strayed far from the box (less so once unshepherded).
                limit = torch.where(s["shepherd"], 2.0, 5.0) * w1
                s["w2"] = torch.where(violation.flatten(1).amax(1) > limit, s["w2"] / 2, s["w2"])
            grad = self._penalised_grad(batch, s["x"], upper, lower, s["w2"])
            update, s["m"], s["v"] = adam_update(grad, s["m"], s["v"], i, w1, self.beta1, self.beta2)
            if i == 0:
                s["x"] = project(s["x"] - 2 * eps * update.sign(), batch.x, eps, "linf", batch.bounds)
                s["m"], s["v"] = torch.zeros_like(s["m"]), torch.zeros_like(s["v"])
                s["shepherd"] = shepherded(grad, self.shepherd)
            else:
                s["x"] = s["x"] - update
            s = compact(s, batch.keep(s["x"], i + 1))
            if not len(batch):
                break

    def _penalised_grad(self, batch: Batch, x, upper, lower, w2) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            penalty = (F.relu(x - upper) + F.relu(lower - x)).pow(2).flatten(1).sum(1)
            loss = (1 - w2) * penalty + w2 * md_loss(batch.model(x), batch.target)
            (grad,) = torch.autograd.grad(loss.sum(), x)
        return grad


def adam_update(grad, m, v, i: int, w1: float, beta1: float, beta2: float):
    """(update, m, v) of CGD's iteration i: bias-corrected Adam moments with the count i + 1 of the official code,
    which keeps counting across the moment reset after iteration 0."""
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    t = i + 1
    return w1 * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + 1e-15), m, v


def shepherded(grad: torch.Tensor, rule: Literal["batch", "example"]) -> torch.Tensor:
    """Per-example shepherd flags after the first step: mean |g| ≤ 1e-2 over the batch (one flag for all) or per
    example."""
    if rule == "batch":
        return (grad.abs().mean() <= 1e-2).expand(len(grad)).clone()
    return grad.flatten(1).abs().mean(1) <= 1e-2
