"""Feature-space particle inference (Yashima et al., ICML 2022): the repulsion and prior terms of the feature-space
Wasserstein gradient flow, on one batch of the members' features.

Follows the official code (DensoITLab/featurePI, lib/optim/feature_wgd.py): the members' loss gradients with respect
to their features span the directions e_k = λ_k^{-1/2} Σ_j U_jk ∇ℓ_j of the eigendecomposition G = U diag(λ) Uᵀ of
their Gram matrix; features are projected to z_p = (<h_p, e_k>)_k, and the KDE repulsion
∇_{z_p} log Σ_q exp(−‖z_p − z_q‖² / h_p) (per-member bandwidth h_p held fixed) is mapped back as Σ_k [·]_k e_k.
"""

from __future__ import annotations

import math

import torch


def projection_basis(loss_grads: torch.Tensor, projection_dim: int) -> torch.Tensor:
    """(K, n) orthonormal directions from (M, n) loss gradients, K = min(projection_dim, M). eigh sorts eigenvalues
    ascending and, as in the official code, the first ``projection_dim`` of that order are kept."""
    gram = loss_grads @ loss_grads.T
    eigenvalues, eigenvectors = torch.linalg.eigh(gram)
    # A rank-deficient Gram matrix (identical members) has zero eigenvalues; a floor keeps the basis finite.
    floor = torch.finfo(gram.dtype).eps * eigenvalues.abs().max().clamp_min(torch.finfo(gram.dtype).tiny)
    basis = (eigenvectors.T @ loss_grads) / eigenvalues.clamp_min(floor).sqrt()[:, None]
    return basis[:projection_dim]


def median_bandwidth(sq_dists: torch.Tensor) -> torch.Tensor:
    """h_p = median_q(‖z_p − z_q‖²)² / log M + 1e-12 for an (M, M) matrix of squared distances (q = p included),
    as coded in the official implementation (the square of the median squared distance)."""
    members = sq_dists.shape[0]
    return torch.quantile(sq_dists, 0.5, dim=1) ** 2 / math.log(members) + 1e-12


def kde_log_density_grad(z: torch.Tensor) -> torch.Tensor:
    """(M, K): ∇_{z_p} log Σ_q exp(−‖z_p − z_q‖² / h_p) with each member's bandwidth h_p held constant."""
    diff = z[:, None, :] - z[None, :, :]  # [p, q] = z_p − z_q
    sq_dists = diff.pow(2).sum(-1)
    bandwidth = median_bandwidth(sq_dists)
    weights = torch.softmax(-sq_dists / bandwidth[:, None], dim=1)  # k(z_p, z_q) / Σ_q k(z_p, z_q)
    return -2.0 / bandwidth[:, None] * (weights[..., None] * diff).sum(1)


def repulsion(features: torch.Tensor, loss_grads: torch.Tensor, projection_dim: int) -> torch.Tensor:
    """(M, ...) repulsion of each member's features (same shape as ``features``), from the members' loss gradients."""
    flat_features, flat_grads = features.flatten(1), loss_grads.flatten(1)
    basis = projection_basis(flat_grads, projection_dim)
    return (kde_log_density_grad(flat_features @ basis.T) @ basis).reshape(features.shape)


def prior_grad(features: torch.Tensor, kind: str, scale: float) -> torch.Tensor:
    """Gradient of the negative log prior of the features: Cauchy Σ log(1 + s h²), Gaussian s h² / 2, or none."""
    if kind == "cauchy":
        return 2 * scale * features / (1 + scale * features.pow(2))
    if kind == "gaussian":
        return scale * features
    return torch.zeros_like(features)
