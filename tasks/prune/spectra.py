"""Spectral analysis of pruned layers as bipartite graphs (Pal et al., ICML 2022: Ramanujan winning tickets).

A layer's mask M (n_out × n_in; a conv's (C_out, C_in, kH, kW) as C_out × C_in·kH·kW) is the biadjacency matrix of a
bipartite graph: inputs on the left, outputs on the right, an edge where M = 1. Isolated nodes are removed. The
adjacency [[0, Mᵀ], [M, 0]] has eigenvalues ± the singular values of M, so μ0 (trivial) and μ̂ are M's two largest
singular values, found with scipy's sparse solver (svds). With average degrees d̄_L = |E|/n_in, d̄_R = |E|/n_out:
    Δr = √(d̄_L − 1) + √(d̄_R − 1) − μ̂   (Ramanujan bound for bi-regular bipartite graphs; Δr ≥ 0 ⇒ "Ramanujan"),
    Δs = 2√(μ0 − 1) − μ̂,
and λ2 of the normalised Laplacian gives the Cheeger-type bounds λ2/2 ≤ φ(G) ≤ √(2 λ2) on the conductance.
Layers with d̄ < 3 on either side are skipped (the bound is meaningless there), as in the paper.
The weighted graph (|w| on the edges) has no degree-based Ramanujan bound, so for it we report μ0, μ̂, the
scale-free spectral gap 1 − μ̂/μ0 and λ2 of its normalised Laplacian.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

MIN_DEGREE = 3.0
# Dense solvers only below this many matrix entries (and where ARPACK cannot run: fewer than 3 rows/columns).
DENSE_MAX_ENTRIES = 4096


@dataclass(frozen=True)
class LayerSpectrum:
    layer: str
    n_left: int  # input nodes left after removing isolated ones
    n_right: int  # output nodes left
    edges: int
    density: float  # edges / all possible edges of the unpruned layer
    d_left: float
    d_right: float
    mu0: float
    mu_hat: float
    delta_r: float | None  # None where the layer is skipped (d̄ < 3)
    delta_s: float | None
    lambda2: float
    cheeger_lower: float
    cheeger_upper: float
    weighted_mu0: float
    weighted_mu_hat: float
    weighted_gap: float
    weighted_lambda2: float

    @property
    def ramanujan(self) -> bool | None:
        return None if self.delta_r is None else self.delta_r >= 0


def as_matrix(weight: np.ndarray) -> np.ndarray:
    """A layer's weight as n_out × n_in (convolutions: C_out × C_in·kH·kW)."""
    return weight.reshape(weight.shape[0], -1)


def _is_small(matrix: sp.spmatrix) -> bool:
    return min(matrix.shape) < 3 or matrix.shape[0] * matrix.shape[1] <= DENSE_MAX_ENTRIES


def top_singular_values(matrix: sp.csr_matrix) -> tuple[float, float]:
    """The two largest singular values (μ0, μ̂); the second is 0 for a matrix with a single row or column."""
    if _is_small(matrix):
        values = np.linalg.svd(matrix.toarray(), compute_uv=False)
    else:
        values = svds(matrix.astype(np.float64), k=2, return_singular_vectors=False, random_state=0)
    values = np.sort(values)[::-1]
    return float(values[0]), float(values[1]) if len(values) > 1 else 0.0


def normalized_lambda2(matrix: sp.csr_matrix) -> float:
    """Second-smallest eigenvalue λ2 of the normalised Laplacian ℒ = I − D^{-1/2} A D^{-1/2} of the bipartite graph
    with biadjacency ``matrix`` (no isolated nodes; a node of zero weighted degree makes λ2 = 0).

    A bipartite ℒ has eigenvalues 1 ± σ_i(N) (and 1) for N = D_R^{-1/2} M D_L^{-1/2}, whose top singular value is 1,
    so λ2 = 1 − σ2(N): a two-value svds of the n_out × n_in matrix rather than eigsh of the (n_out + n_in)-square ℒ
    (same value, about 5x faster on ResNet-18 layers; the tests check it against eigvalsh of csgraph.laplacian).
    """
    right, left = np.asarray(matrix.sum(axis=1)).ravel(), np.asarray(matrix.sum(axis=0)).ravel()
    if (right <= 0).any() or (left <= 0).any():
        return 0.0
    normalized = sp.diags(1 / np.sqrt(right)) @ matrix @ sp.diags(1 / np.sqrt(left))
    return max(1.0 - top_singular_values(sp.csr_matrix(normalized))[1], 0.0)  # clip round-off below 0


def connected_part(mask: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """The 0/1 biadjacency matrix without isolated nodes, and which rows (outputs) and columns (inputs) remain."""
    biadjacency = sp.csr_matrix(as_matrix(np.asarray(mask)).astype(np.float64))
    rows, cols = biadjacency.getnnz(axis=1) > 0, biadjacency.getnnz(axis=0) > 0
    return biadjacency[rows][:, cols], rows, cols


def _average_degrees(biadjacency: sp.csr_matrix) -> tuple[float, float]:
    n_right, n_left = biadjacency.shape
    return biadjacency.nnz / n_left, biadjacency.nnz / n_right


def ramanujan_gap(mask: np.ndarray) -> float | None:
    """Δr of one layer's mask; None when the layer is skipped (d̄ < 3 on a side, or no edge left)."""
    biadjacency, rows, _ = connected_part(mask)
    if not rows.any():
        return None
    d_left, d_right = _average_degrees(biadjacency)
    if min(d_left, d_right) < MIN_DEGREE:
        return None
    return math.sqrt(d_left - 1) + math.sqrt(d_right - 1) - top_singular_values(biadjacency)[1]


def layer_spectrum(name: str, mask: np.ndarray, weight: np.ndarray | None = None) -> LayerSpectrum | None:
    """The spectral summary of one layer (``weight`` gives the |w| edge weights); None when no edge is left."""
    biadjacency, rows, cols = connected_part(mask)
    if not rows.any():
        return None
    magnitudes = np.abs(as_matrix(np.asarray(weight if weight is not None else mask, dtype=np.float64)))
    if not np.isfinite(magnitudes).all():
        raise ValueError(f"layer {name!r} has non-finite weights (did training diverge?)")
    weights = sp.csr_matrix(biadjacency.multiply(magnitudes[rows][:, cols]))
    weights.eliminate_zeros()
    d_left, d_right = _average_degrees(biadjacency)
    mu0, mu_hat = top_singular_values(biadjacency)
    analysed = min(d_left, d_right) >= MIN_DEGREE
    lambda2 = normalized_lambda2(biadjacency)
    w_mu0, w_mu_hat = top_singular_values(weights)
    return LayerSpectrum(
        layer=name,
        n_left=biadjacency.shape[1],
        n_right=biadjacency.shape[0],
        edges=int(biadjacency.nnz),
        density=biadjacency.nnz / np.asarray(mask).size,
        d_left=d_left,
        d_right=d_right,
        mu0=mu0,
        mu_hat=mu_hat,
        delta_r=math.sqrt(d_left - 1) + math.sqrt(d_right - 1) - mu_hat if analysed else None,
        delta_s=2 * math.sqrt(mu0 - 1) - mu_hat if analysed else None,
        lambda2=lambda2,
        cheeger_lower=lambda2 / 2,
        cheeger_upper=math.sqrt(2 * lambda2),
        weighted_mu0=w_mu0,
        weighted_mu_hat=w_mu_hat,
        weighted_gap=1 - w_mu_hat / w_mu0 if w_mu0 > 0 else 0.0,
        weighted_lambda2=normalized_lambda2(weights) if weights.nnz else 0.0,
    )
