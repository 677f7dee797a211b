"""Curvature of the training loss at a trained model: the top Hessian eigenvalue (power iteration) and the Hessian
trace (Hutchinson), both from exact Hessian-vector products (double back-propagation through a first-order graph
built once per batch; no Hessian is formed).

The loss is evaluated in eval mode (BatchNorm uses its running statistics, dropout is off), so that it is one
deterministic function of the weights; it is averaged over the given batches, weighted by their sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


class HessianOperator:
    """v ↦ H·v for the size-weighted mean loss over ``batches``, ``v`` shaped like the trainable parameters.

    Each batch's first-order graph (the loss gradient with ``create_graph``) is built once, on construction, and
    every product back-propagates through it again (``retain_graph``), so a product costs one double-backward and
    no forward pass. The graphs of all batches stay in memory while the operator lives."""

    def __init__(self, model: nn.Module, loss_fn: LossFn, batches: Batches):
        self.params = trainable(model)
        total = sum(len(x) for x, _ in batches)
        was_training = model.training
        model.eval()
        try:
            with torch.enable_grad():
                self.gradients = [
                    torch.autograd.grad(loss_fn(model(x), y) * (len(x) / total), self.params, create_graph=True)
                    for x, y in batches
                ]
        finally:
            model.train(was_training)

    def __call__(self, vector: list[torch.Tensor]) -> list[torch.Tensor]:
        product = [torch.zeros_like(p) for p in self.params]
        with torch.enable_grad():
            for gradients in self.gradients:
                for acc, hv in zip(product, torch.autograd.grad(gradients, self.params, grad_outputs=vector,
                                                                 retain_graph=True)):
                    acc += hv
        return product


def hessian_vector_product(model: nn.Module, loss_fn: LossFn, batches: Batches, vector: list[torch.Tensor]):
    """One H·v (for many, build a ``HessianOperator`` once)."""
    return HessianOperator(model, loss_fn, batches)(vector)


def _dot(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


@dataclass(frozen=True)
class Eigen:
    value: float
    iterations: int
    history: list[float]  # the Rayleigh quotient after each iteration


def top_eigenvalue(
    model: nn.Module, loss_fn: LossFn, batches: Batches, iterations: int = 100, tol: float = 1e-6, seed: int = 0
) -> Eigen:
    """Largest-magnitude Hessian eigenvalue by power iteration; stops when the Rayleigh quotient's relative change
    between two iterations is at most ``tol``. Convergence is linear in |λ₂/λ₁|, so a change of tol can leave an
    error of tol / (1 − |λ₂/λ₁|²): a loose tol stops early when the top two eigenvalues are close."""
    generator = torch.Generator().manual_seed(seed)
    hessian = HessianOperator(model, loss_fn, batches)
    vector = [torch.randn(p.shape, generator=generator).to(p) for p in hessian.params]
    history: list[float] = []
    for _ in range(iterations):
        norm = _dot(vector, vector).sqrt()
        vector = [v / norm for v in vector]
        product = hessian(vector)
        history.append(float(_dot(vector, product)))
        vector = product
        if len(history) > 1 and abs(history[-1] - history[-2]) <= tol * abs(history[-1]):
            break
    return Eigen(value=history[-1], iterations=len(history), history=history)


def hessian_trace(model: nn.Module, loss_fn: LossFn, batches: Batches, samples: int = 20, seed: int = 0):
    """Hutchinson's estimate E[vᵀHv] with Rademacher v: (mean, standard error over ``samples`` probes)."""
    generator = torch.Generator().manual_seed(seed)
    hessian = HessianOperator(model, loss_fn, batches)
    estimates = []
    for _ in range(samples):
        vector = [(torch.randint(0, 2, p.shape, generator=generator) * 2 - 1).to(p) for p in hessian.params]
        estimates.append(float(_dot(vector, hessian(vector))))
    values = torch.tensor(estimates, dtype=torch.float64)
    stderr = float(values.std() / len(values) ** 0.5) if len(values) > 1 else float("nan")
    return float(values.mean()), stderr
