"""Lloyd–Max quantisers of the standard normal: the 2^b MSE-optimal levels for b = 1..8, by Lloyd's algorithm.

Lloyd's iteration alternates the two optimality conditions: boundaries are midpoints of neighbouring levels, and each
level is the conditional mean of N(0, 1) over its cell, E[Z | a < Z < b] = (φ(a) − φ(b)) / (Φ(b) − Φ(a)). The
quantiser is symmetric, so only the positive half is iterated, with cell masses taken from the survival function
(1 − Φ loses the tail cells to cancellation).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.stats import norm


@functools.lru_cache(maxsize=None)
def lloyd_max(bits: int, tol: float = 1e-10, max_iter: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
    """(levels, boundaries) of the 2^bits-level quantiser: the sorted levels and the 2^bits − 1 midpoints."""
    if not 1 <= bits <= 8:
        raise ValueError(f"Lloyd–Max tables exist for 1..8 bits, got {bits}")
    half = 2 ** (bits - 1)
    # Start from Bennett's high-resolution optimum (level density ∝ φ^(1/3): quantiles of N(0, 3)).
    levels = np.sqrt(3.0) * norm.ppf(0.5 + (np.arange(half) + 0.5) / (2 * half))
    for _ in range(max_iter):
        edges = np.concatenate([[0.0], (levels[1:] + levels[:-1]) / 2, [np.inf]])
        pdf, sf = norm.pdf(edges), norm.sf(edges)
        new = (pdf[:-1] - pdf[1:]) / (sf[:-1] - sf[1:])
        step = np.max(np.abs(new - levels))
        levels = new
        if step < tol:
            break
    levels = np.concatenate([-levels[::-1], levels])
    return levels, (levels[1:] + levels[:-1]) / 2


def distortion(bits: int) -> float:
    """σ_b = E(Z − Q(Z))² of the Lloyd–Max quantiser; optimality gives E[Q(Z)²] = E[Z·Q(Z)] = 1 − σ_b."""
    levels, boundaries = lloyd_max(bits)
    edges = np.concatenate([[-np.inf], boundaries, [np.inf]])
    mass = norm.cdf(edges[1:]) - norm.cdf(edges[:-1])
    return float(1.0 - np.sum(mass * levels**2))


def unbiased_vnmse(bits: int) -> float:
    """vNMSE of EDEN's unbiased scale on a Gaussian rotated vector: σ_b / (1 − σ_b) (π/2 − 1 for b = 1)."""
    sigma = distortion(bits)
    return sigma / (1.0 - sigma)
