"""Diagonal linear networks β = u ⊙ v on noiseless sparse regression (Andriushchenko & Flammarion, "Towards
understanding sharpness-aware minimization", §4): full-batch GD, n-SAM and 1-SAM with unnormalised perturbations.

With L(β) = ‖Xβ − y‖² / (2n) and r = Xβ − y, the gradients are g_u = (Xᵀr) ⊙ v / n and g_v = (Xᵀr) ⊙ u / n.
n-SAM evaluates them at (u + ρ g_u, v + ρ g_v). 1-SAM perturbs per example k along the gradient of (x_k·β − y_k)²:
û_k = u + 2ρ r_k x_k ⊙ v, v̂_k = v + 2ρ r_k x_k ⊙ u, and averages the per-example gradients taken at (û_k, v̂_k).
Plain numpy (float64); the whole run is a few milliseconds per thousand iterations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Method = Literal["gd", "n-sam", "1-sam"]


@dataclass(frozen=True)
class SparseRegression:
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    beta_star: np.ndarray


def sparse_regression(n: int, d: int, sparsity: int, n_test: int, seed: int) -> SparseRegression:
    """X ~ N(0, I), a ``sparsity``-sparse unit-norm target with |N(0, 1)| entries on the first coordinates, noiseless
    labels; drawn as the official notebook (diag_nets_sam.ipynb) draws them, from numpy's legacy
    ``RandomState(seed)``: X and X_test by ``multivariate_normal``, then θ* = randn(d) with the entries from index
    ``sparsity`` on zeroed. The notebook's seed 0 gives its data exactly."""
    rng = np.random.RandomState(seed)
    x = rng.multivariate_normal(np.zeros(d), np.eye(d), n)
    x_test = rng.multivariate_normal(np.zeros(d), np.eye(d), n_test)
    beta_star = rng.randn(d)
    beta_star[sparsity:] = 0
    beta_star = np.abs(beta_star) / np.linalg.norm(beta_star)
    return SparseRegression(x, x @ beta_star, x_test, x_test @ beta_star, beta_star)


def loss(x: np.ndarray, y: np.ndarray, beta: np.ndarray) -> float:
    return float(np.sum((x @ beta - y) ** 2) / (2 * len(y)))


def _gradients(x, y, u, v):
    correlation = x.T @ (x @ (u * v) - y) / len(y)
    return correlation * v, correlation * u


def _one_sam_gradients(x, y, u, v, rho):
    residual = x @ (u * v) - y
    u_hat = u + 2 * rho * residual[:, None] * x * v  # one perturbed copy of (u, v) per example
    v_hat = v + 2 * rho * residual[:, None] * x * u
    residual_hat = np.sum(x * u_hat * v_hat, axis=1) - y
    return (residual_hat[:, None] * x * v_hat).mean(0), (residual_hat[:, None] * x * u_hat).mean(0)


def _step(data: SparseRegression, method: Method, rho: float, step: float, u: np.ndarray, v: np.ndarray):
    if method == "1-sam":
        g_u, g_v = _one_sam_gradients(data.x, data.y, u, v, rho)
    else:
        g_u, g_v = _gradients(data.x, data.y, u, v)
        if method == "n-sam":
            g_u, g_v = _gradients(data.x, data.y, u + rho * g_u, v + rho * g_v)
    return u - step * g_u, v - step * g_v


def train(data: SparseRegression, method: Method, rho: float, alpha: float, step: float, iterations: int):
    """β = u ⊙ v after ``iterations`` full-batch steps from u = α·1, v = 0."""
    d = data.x.shape[1]
    u, v = np.full(d, alpha), np.zeros(d)
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected and reported instead
        for _ in range(iterations):
            u, v = _step(data, method, rho, step, u, v)
            if not np.all(np.isfinite(u * v)):
                raise FloatingPointError(f"{method} diverged (step {step:g}, ρ {rho:g}); lower the step or ρ")
    return u * v


def summary(data: SparseRegression, beta: np.ndarray) -> dict[str, float]:
    support = data.beta_star != 0
    return {
        "train_loss": loss(data.x, data.y, beta),
        "test_loss": loss(data.x_test, data.y_test, beta),
        "l1_norm": float(np.abs(beta).sum()),
        "off_support_l1": float(np.abs(beta[~support]).sum()),
    }
