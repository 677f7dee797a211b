"""Curvature of the training loss at a trained model: the top Hessian eigenvalue (power iteration) and the Hessian
trace (Hutchinson), both from exact Hessian-vector products (double back-propagation, no Hessian is formed).

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


def hessian_vector_product(model: nn.Module, loss_fn: LossFn, batches: Batches, vector: list[torch.Tensor]):
    """H·v for the size-weighted mean loss over ``batches``; ``vector`` is shaped like the trainable parameters."""
    params = trainable(model)
    total = sum(len(x) for x, _ in batches)
    product = [torch.zeros_like(p) for p in params]
    was_training = model.training
    model.eval()
    for x, y in batches:
        loss = loss_fn(model(x), y) * (len(x) / total)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        dot = sum((g * v).sum() for g, v in zip(grads, vector))
        for acc, hv in zip(product, torch.autograd.grad(dot, params)):
            acc += hv
    model.train(was_training)
    return product


def _dot(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


@dataclass(frozen=True)
class Eigen:
    value: float
    iterations: int
    history: list[float]  # the Rayleigh quotient after each iteration


def top_eigenvalue(
    model: nn.Module, loss_fn: LossFn, batches: Batches, iterations: int = 50, tol: float = 1e-3, seed: int = 0
) -> Eigen:
    """Largest-magnitude Hessian eigenvalue by power iteration; stops when the relative change is below ``tol``."""
    generator = torch.Generator().manual_seed(seed)
    params = trainable(model)
    vector = [torch.randn(p.shape, generator=generator).to(p) for p in params]
    history: list[float] = []
    for _ in range(iterations):
        norm = _dot(vector, vector).sqrt()
        vector = [v / norm for v in vector]
        product = hessian_vector_product(model, loss_fn, batches, vector)
        history.append(float(_dot(vector, product)))
        vector = product
        if len(history) > 1 and abs(history[-1] - history[-2]) <= tol * abs(history[-1]):
            break
    return Eigen(value=history[-1], iterations=len(history), history=history)


def hessian_trace(model: nn.Module, loss_fn: LossFn, batches: Batches, samples: int = 20, seed: int = 0):
    """Hutchinson's estimate E[vᵀHv] with Rademacher v: (mean, standard error over ``samples`` probes)."""
    generator = torch.Generator().manual_seed(seed)
    params = trainable(model)
    estimates = []
    for _ in range(samples):
        vector = [(torch.randint(0, 2, p.shape, generator=generator) * 2 - 1).to(p) for p in params]
        estimates.append(float(_dot(vector, hessian_vector_product(model, loss_fn, batches, vector))))
    values = torch.tensor(estimates, dtype=torch.float64)
    stderr = float(values.std() / len(values) ** 0.5) if len(values) > 1 else float("nan")
    return float(values.mean()), stderr
