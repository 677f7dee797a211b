"""Sharpness around a trained model, measured by perturbing its weights.

- m-sharpness (Andriushchenko & Flammarion): the mean over sub-batches of m examples of
  max_{‖δ‖₂ ≤ ρ} L_k(w + δ) − L_k(w), the inner max approximated by projected normalised gradient ascent.
- Local energy (Pittorino et al.): δE(σ) = E_z[E(w ⊙ (1 + σ z))] − E(w), z ~ N(0, I), with E the training error
  (and the same for the loss); multiplicative noise makes it invariant to the per-unit rescalings a ReLU net allows.

Both evaluate the model in eval mode and leave its weights as they found them.
"""

from __future__ import annotations

import contextlib
import statistics
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from spotlab.tasks.landscape.hessian import LossFn, trainable


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Eval mode inside; the trainable weights (yielded as a copy) are put back on exit."""
    params = trainable(model)
    saved = [p.detach().clone() for p in params]
    was_training = model.training
    model.eval()
    try:
        yield saved
    finally:
        with torch.no_grad():
            for p, w in zip(params, saved):
                p.copy_(w)
        model.train(was_training)


def worst_case_loss(model: nn.Module, loss_fn: LossFn, x, y, rho: float, steps: int) -> tuple[float, float]:
    """(L(w), approx. max_{‖δ‖ ≤ ρ} L(w + δ)) on one batch by ``steps`` projected ascent steps of length 2ρ/steps."""
    params = trainable(model)
    with evaluating(model) as start:
        with torch.no_grad():
            clean = float(loss_fn(model(x), y))
        worst = clean
        for _ in range(steps):
            grads = torch.autograd.grad(loss_fn(model(x), y), params)
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p.add_(g, alpha=float(2 * rho / steps / (norm + 1e-12)))
                delta = [p - w for p, w in zip(params, start)]
                size = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(d) for d in delta]))
                if size > rho:  # project back onto the ρ-ball
                    for p, w, d in zip(params, start, delta):
                        p.copy_(w + d * (rho / size))
                worst = max(worst, float(loss_fn(model(x), y)))
    return clean, worst


def m_sharpness(model: nn.Module, loss_fn: LossFn, x, y, rho: float, m: int, steps: int = 3) -> float:
    """Mean over the sub-batches of ``m`` examples of (worst-case loss in the ρ-ball − loss), weighted by size."""
    total = 0.0
    for index in torch.arange(len(x)).split(m):
        clean, worst = worst_case_loss(model, loss_fn, x[index], y[index], rho, steps)
        total += (worst - clean) * len(index) / len(x)
    return total


def local_energy(
    model: nn.Module,
    metrics: Callable[[torch.Tensor, torch.Tensor], dict[str, float]],
    x,
    y,
    sigmas: Sequence[float],
    samples: int,
    seed: int = 0,
) -> list[dict[str, float]]:
    """For each σ: the mean over ``samples`` draws of metrics(w ⊙ (1 + σz)) minus metrics(w), as ``delta_<name>``."""
    generator = torch.Generator().manual_seed(seed)
    params = trainable(model)
    rows = []
    with evaluating(model) as start, torch.no_grad():
        base = metrics(model(x), y)
        for sigma in sigmas:
            draws = {name: [] for name in base}
            for _ in range(samples):
                for p, w in zip(params, start):
                    p.copy_(w * (1 + sigma * torch.randn(w.shape, generator=generator).to(w)))
                for name, value in metrics(model(x), y).items():
                    draws[name].append(value)
            # fmean sums exactly, so draws that all equal the base give exactly 0
            rows.append({"sigma": float(sigma), **{f"delta_{k}": statistics.fmean(draws[k]) - base[k] for k in base}})
    return rows
