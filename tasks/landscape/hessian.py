"""Curvature of the training loss at a trained model: the top Hessian eigenvalue (Lanczos or power iteration) and
the Hessian trace (Hutchinson), both from exact Hessian-vector products (double back-propagation through a
first-order graph built once per batch; no Hessian is formed).

The loss is evaluated in eval mode (BatchNorm uses its running statistics, dropout is off), so that it is one
deterministic function of the weights; it is averaged over the given batches, weighted by their sizes. Vectors are
flat (one entry per trainable weight, in ``model.parameters()`` order), so an iteration's vector arithmetic is a
few fused ops on one tensor, not a Python loop over parameter tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]
EigenMethod = Literal["lanczos", "power"]


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


class HessianOperator:
    """v ↦ H·v for the size-weighted mean loss over ``batches``, on flat vectors of ``dimension`` entries.

    Each batch's first-order graph (the loss gradient with ``create_graph``) is built once, on construction, and
    every product back-propagates through it again (``retain_graph``), so a product costs one double-backward and
    no forward pass. The graphs of all batches stay in memory while the operator lives."""

    def __init__(self, model: nn.Module, loss_fn: LossFn, batches: Batches):
        self.params = trainable(model)
        self.sizes = [p.numel() for p in self.params]
        self.dimension = sum(self.sizes)
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

    def new_vector(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` (flat, any dtype) on the parameters' device and dtype."""
        return values.to(self.params[0])

    def __call__(self, vector: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """H·vector, written into ``out`` when given (a reused buffer: no fresh allocation of the flat product)."""
        pieces = [piece.view_as(p) for piece, p in zip(vector.split(self.sizes), self.params)]
        product = torch.empty_like(vector) if out is None else out
        with torch.enable_grad():
            for index, gradients in enumerate(self.gradients):
                parts = torch.autograd.grad(gradients, self.params, grad_outputs=pieces, retain_graph=True)
                if index == 0:
                    torch.cat([h.reshape(-1) for h in parts], out=product)
                else:
                    product.add_(torch.cat([h.reshape(-1) for h in parts]))
        return product


def hessian_vector_product(model: nn.Module, loss_fn: LossFn, batches: Batches, vector: torch.Tensor):
    """One H·v on a flat vector (for many, build a ``HessianOperator`` once)."""
    return HessianOperator(model, loss_fn, batches)(vector)


@dataclass(frozen=True)
class Eigen:
    value: float
    iterations: int  # Hessian-vector products
    history: list[float]  # the estimate after each iteration


def _converged(history: list[float], tol: float) -> bool:
    return len(history) > 1 and abs(history[-1] - history[-2]) <= tol * abs(history[-1])


def _power_iteration(hessian: HessianOperator, vector: torch.Tensor, iterations: int, tol: float) -> list[float]:
    """Rayleigh quotients of power iteration (PyHessian's algorithm)."""
    history: list[float] = []
    product = torch.empty_like(vector)
    for _ in range(iterations):
        vector = vector.div_(vector.norm())
        hessian(vector, out=product)
        history.append(float(torch.dot(vector, product)))
        vector, product = product, vector  # two buffers, swapped
        if _converged(history, tol):
            break
    return history


def _lanczos(hessian: HessianOperator, vector: torch.Tensor, iterations: int, tol: float) -> list[float]:
    """Largest-magnitude Ritz value after each Lanczos step (three-term recurrence, no reorthogonalisation: lost
    orthogonality only repeats converged Ritz values). It also stops when the Ritz residual β·|s_k| certifies an
    eigenvalue within ``tol`` (relative), which includes β = 0, an exactly invariant Krylov space."""
    alphas: list[float] = []
    betas: list[float] = []
    history: list[float] = []
    vector = vector / vector.norm()
    previous, w, beta = torch.zeros_like(vector), torch.empty_like(vector), 0.0  # three buffers, rotated
    for _ in range(iterations):
        hessian(vector, out=w)
        alpha = float(torch.dot(vector, w))
        w.sub_(vector, alpha=alpha).sub_(previous, alpha=beta)
        alphas.append(alpha)
        ritz, ritz_vectors = eigh_tridiagonal(np.array(alphas), np.array(betas))
        top = int(np.argmax(np.abs(ritz)))
        history.append(float(ritz[top]))
        beta = float(w.norm())
        if beta * abs(ritz_vectors[-1, top]) <= tol * abs(history[-1]) or _converged(history, tol):
            break
        betas.append(beta)
        previous, vector, w = vector, w.div_(beta), previous
    return history


def top_eigenvalue(
    model: nn.Module, loss_fn: LossFn, batches: Batches, iterations: int = 100, tol: float = 1e-6, seed: int = 0,
    method: EigenMethod = "lanczos",
) -> Eigen:
    """Largest-magnitude Hessian eigenvalue from at most ``iterations`` Hessian-vector products, started from a
    seeded Gaussian vector; stops when the estimate's relative change between two iterations is at most ``tol``.

    Both estimates only grow towards the eigenvalue (for a positive top eigenvalue), so stopping on a small change
    can stop short when the top eigenvalues are close: power iteration converges like |λ₂/λ₁|^k and can be left
    tol / (1 − |λ₂/λ₁|²) short; Lanczos's Ritz value is the best in the same Krylov space (never below power
    iteration's Rayleigh quotient after as many products) and converges much faster when λ₂ is close to λ₁."""
    generator = torch.Generator().manual_seed(seed)
    hessian = HessianOperator(model, loss_fn, batches)
    start = hessian.new_vector(torch.randn(hessian.dimension, generator=generator))
    history = (_lanczos if method == "lanczos" else _power_iteration)(hessian, start, iterations, tol)
    return Eigen(value=history[-1], iterations=len(history), history=history)


def hessian_trace(model: nn.Module, loss_fn: LossFn, batches: Batches, samples: int = 20, seed: int = 0):
    """Hutchinson's estimate E[vᵀHv] with Rademacher v: (mean, standard error over ``samples`` probes)."""
    generator = torch.Generator().manual_seed(seed)
    hessian = HessianOperator(model, loss_fn, batches)
    estimates = []
    for _ in range(samples):
        vector = hessian.new_vector(torch.randint(0, 2, (hessian.dimension,), generator=generator) * 2 - 1)
        estimates.append(float(torch.dot(vector, hessian(vector))))
    values = torch.tensor(estimates, dtype=torch.float64)
    stderr = float(values.std() / len(values) ** 0.5) if len(values) > 1 else float("nan")
    return float(values.mean()), stderr
