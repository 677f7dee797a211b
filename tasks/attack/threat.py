"""Threat models: an L∞ or L2 ball of radius ε around the clean input, intersected with the data's box [lo, hi].

Everything here works per example on batches of any input shape (the first dimension is the batch).
"""

from __future__ import annotations

from typing import Literal

import torch

Norm = Literal["linf", "l2"]


def _view(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape per-example values (B,) so that they broadcast against a (B, ...) batch."""
    return values.reshape((-1,) + (1,) * (like.dim() - 1))


def norms(delta: torch.Tensor, norm: Norm) -> torch.Tensor:
    """Per-example norm of a batch of perturbations."""
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "linf" else flat.norm(dim=1)


def project(x: torch.Tensor, x_clean: torch.Tensor, eps: float, norm: Norm,
            bounds: tuple[float, float]) -> torch.Tensor:
    """A point of the ε-ball ∩ box. Exact projection for L∞; for L2 the ball projection followed by the box clamp,
    which never leaves the ball because the clean input lies in the box (clamping only shrinks |x_i − x_clean_i|)."""
    if norm == "linf":
        x = torch.minimum(torch.maximum(x, x_clean - eps), x_clean + eps)
    else:
        delta = x - x_clean
        scale = (eps / norms(delta, "l2").clamp_min(1e-12)).clamp(max=1.0)
        x = x_clean + delta * _view(scale, delta)
    return x.clamp(*bounds)


def steepest_direction(grad: torch.Tensor, norm: Norm) -> torch.Tensor:
    """The unit-norm ascent direction of the threat model: sign(g) for L∞, g/‖g‖₂ for L2."""
    if norm == "linf":
        return grad.sign()
    return grad / _view(norms(grad, "l2").clamp_min(1e-12), grad)


def random_start(
    x_clean: torch.Tensor, eps: float, norm: Norm, bounds: tuple[float, float], generator: torch.Generator | None
) -> torch.Tensor:
    """A uniform draw from the ε-ball (the cube for L∞), clamped to the box; ``generator=None`` draws from the
    global RNG (training objectives, whose RNG state the train loop checkpoints)."""
    noise = torch.rand(x_clean.shape, generator=generator, device=x_clean.device) * 2 - 1
    if norm == "l2":
        # Uniform in the L2 ball: a uniform direction scaled by radius u^(1/d).
        direction = torch.randn(x_clean.shape, generator=generator, device=x_clean.device)
        d = direction[0].numel()
        radius = torch.rand(len(x_clean), generator=generator, device=x_clean.device) ** (1.0 / d)
        noise = direction / _view(norms(direction, "l2"), direction) * _view(radius, direction)
    return (x_clean + eps * noise).clamp(*bounds)


def surface_start(
    x_clean: torch.Tensor, eps: float, norm: Norm, bounds: tuple[float, float], generator: torch.Generator | None
) -> torch.Tensor:
    """Auto-PGD's (and CGD's) random start on the ε-sphere, clamped to the box: a uniform cube draw rescaled so
    its largest coordinate is exactly ε (L∞), or a Gaussian direction of length ε (L2)."""
    if norm == "linf":
        noise = torch.rand(x_clean.shape, generator=generator, device=x_clean.device) * 2 - 1
    else:
        noise = torch.randn(x_clean.shape, generator=generator, device=x_clean.device)
    noise = noise / _view(norms(noise, norm).clamp_min(1e-12), noise)
    return (x_clean + eps * noise).clamp(*bounds)


def quantize(x: torch.Tensor, levels: int | None) -> torch.Tensor:
    """Round to the data's grid {k / levels} (255 for 8-bit images, 16 for sklearn digits); None leaves x as is."""
    return x if levels is None else torch.round(x * levels) / levels


def feasible(x: torch.Tensor, x_clean: torch.Tensor, eps: float, norm: Norm, bounds: tuple[float, float],
             tol: float = 1e-5) -> torch.Tensor:
    """Per-example check that x lies in the ε-ball and the box (up to float tolerance)."""
    in_ball = norms(x - x_clean, norm) <= eps + tol
    in_box = ((x >= bounds[0] - tol) & (x <= bounds[1] + tol)).flatten(1).all(1)
    return in_ball & in_box
