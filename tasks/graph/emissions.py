"""Node emission models of a layer's states: Categorical–Dirichlet for discrete labels (N × M label counts) and
Normal–Gamma for continuous features (N × D, independent dimensions). Parameters of K states are one array with K
first, so states are added, dropped and relabelled by indexing the first axis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CategoricalDirichlet:
    """θ_k ~ Dir(η); a node with label counts x_u has log-likelihood Σ_s x_us log θ_k[s]. Parameters: K × M."""

    eta: float

    def log_likelihood(self, params: np.ndarray, x: np.ndarray) -> np.ndarray:
        return x @ np.log(np.maximum(params, 1e-300)).T

    def sample_posterior(self, z: np.ndarray, x: np.ndarray, n_states: int, rng: np.random.Generator) -> np.ndarray:
        counts = np.zeros((n_states, x.shape[1]))
        np.add.at(counts, z, x)
        draws = rng.gamma(counts + self.eta)
        return draws / draws.sum(axis=1, keepdims=True)

    def sample_prior(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.dirichlet(np.full(x.shape[1], self.eta))[None]


@dataclass(frozen=True)
class NormalGamma:
    """Per dimension d: λ_kd ~ Gamma(a0, rate b0), μ_kd ~ N(μ0, 1 / (κ0 λ_kd)), x_ud ~ N(μ_kd, 1 / λ_kd).
    Parameters: K × 2 × D (means, precisions). μ0 = 0, so features are expected standardised."""

    kappa0: float
    a0: float
    b0: float

    def log_likelihood(self, params: np.ndarray, x: np.ndarray) -> np.ndarray:
        mean, precision = params[:, 0], params[:, 1]
        quadratic = (x**2) @ precision.T - 2 * x @ (precision * mean).T + (precision * mean**2).sum(axis=1)
        return 0.5 * (np.log(precision).sum(axis=1) - x.shape[1] * np.log(2 * np.pi) - quadratic)

    def sample_posterior(self, z: np.ndarray, x: np.ndarray, n_states: int, rng: np.random.Generator) -> np.ndarray:
        n = np.bincount(z, minlength=n_states)[:, None].astype(float)
        total = np.zeros((n_states, x.shape[1]))
        squares = np.zeros((n_states, x.shape[1]))
        np.add.at(total, z, x)
        np.add.at(squares, z, x**2)
        mean = total / np.maximum(n, 1)
        scatter = np.maximum(squares - n * mean**2, 0)
        kappa = self.kappa0 + n
        rate = self.b0 + 0.5 * scatter + self.kappa0 * n * mean**2 / (2 * kappa)
        precision = rng.gamma(self.a0 + n / 2, 1.0 / rate)
        mu = rng.normal(n * mean / kappa, 1.0 / np.sqrt(kappa * precision))
        return np.stack([mu, precision], axis=1)

    def sample_prior(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.sample_posterior(np.zeros(0, dtype=np.int64), x[:0], 1, rng)


Emission = CategoricalDirichlet | NormalGamma
