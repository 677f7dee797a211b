"""Layer-wise Gibbs sampling for CGMM (a fixed number of states) and iCGMM (an HDP mixture, Castellana et al.).

Layer ℓ groups nodes into restaurants j (layer 1: one restaurant; deeper: the argmax of the neighbours' summed
state posteriors at layer ℓ − 1, plus one restaurant for isolated nodes). Within restaurant j a node's state
(dish) k has prior weight n_{jk} + α β_k and emits its observation from θ_k (emissions.py: Categorical–Dirichlet
for discrete labels, Normal–Gamma for continuous features). iCGMM keeps the unrepresented stick mass β_u
(``beta[-1]``): a node may open a new state, whose stick is split off β_u with Beta(1, γ); empty states are
removed and their mass returned to β_u. β is resampled from the tables per dish (Antoniak), α and γ with the
auxiliary-variable schemes of Teh et al. (2006) and Escobar & West (1995).

Two samplers of the states (``Hyper.sampler``). ``batch``: every node is resampled at once given the others' counts
(the per-graph batch approximation the paper uses for large graphs), so a sweep is a handful of N × K array
operations, no per-node Python loop. ``sequential``: the paper's exact sampler, one node at a time, each node seeing
the counts, states and β left by the nodes before it (a Python loop over nodes; the likelihoods under the sweep's
fixed θ are still computed as one N × K array).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import scipy.sparse as sp

from spotlab.tasks.graph.emissions import Emission


@dataclass(frozen=True)
class Hyper:
    """Fixed quantities of a layer sampler. ``infinite`` False gives CGMM: ``states`` fixed, uniform β, no new or
    removed states, α fixed. ``alpha``/``gamma`` None means resampled under Gamma(shape, rate)."""

    infinite: bool
    states: int  # CGMM: the number of states; iCGMM: the most states a layer may open
    emission: Emission
    alpha: float | None
    gamma: float | None
    prior_shape: float = 1.0
    prior_rate: float = 0.01
    initial_states: int = 1
    sampler: Literal["batch", "sequential"] = "batch"


@dataclass(frozen=True)
class LayerState:
    restaurant: np.ndarray  # (N,) restaurant of each node, in [0, J)
    z: np.ndarray  # (N,) state of each node, in [0, K)
    beta: np.ndarray  # (K + 1,) iCGMM (last entry: unrepresented mass) or (K,) CGMM; sums to 1
    theta: np.ndarray  # (K, ...) emission parameters, see emissions.py
    alpha: float
    gamma: float
    n_restaurants: int

    @property
    def n_states(self) -> int:
        return self.theta.shape[0]

    def counts(self) -> np.ndarray:
        """n_{jk}: nodes of restaurant j in state k (J × K)."""
        k = self.n_states
        return np.bincount(self.restaurant * k + self.z, minlength=self.n_restaurants * k).reshape(-1, k)


def _categorical(log_weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of unnormalised log-weights (inverse CDF, vectorised)."""
    cdf = np.cumsum(np.exp(log_weights - log_weights.max(axis=1, keepdims=True)), axis=1)
    u = rng.random(len(log_weights)) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), log_weights.shape[1] - 1)


def add_state(state: LayerState, chosen: np.ndarray, rng: np.random.Generator) -> LayerState:
    """Open one new state for the nodes flagged in ``chosen``: split β_u into b β_u (the new state) and
    (1 − b) β_u with b ~ Beta(1, γ); its θ row is redrawn from the posterior at the end of the sweep (zeros until
    then)."""
    b = rng.beta(1.0, state.gamma)
    beta = np.concatenate([state.beta[:-1], [b * state.beta[-1], (1 - b) * state.beta[-1]]])
    theta = np.concatenate([state.theta, np.zeros_like(state.theta[:1])])
    return replace(state, z=np.where(chosen, state.n_states, state.z), beta=beta, theta=theta)


def remove_empty(state: LayerState) -> LayerState:
    """Drop states no node uses, relabel the rest 0..K'−1 in order, return their β mass to β_u."""
    used = np.bincount(state.z, minlength=state.n_states) > 0
    if used.all():
        return state
    relabel = np.cumsum(used) - 1
    beta = np.concatenate([state.beta[:-1][used], [state.beta[-1] + state.beta[:-1][~used].sum()]])
    return replace(state, z=relabel[state.z], beta=beta, theta=state.theta[used])


def sample_tables(counts: np.ndarray, concentration: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Antoniak draw of the tables m_{jk} serving dish k in restaurant j: customer i (0-based) of (j, k) opens a
    table with probability a_k / (a_k + i), a_k = ``concentration[k]`` (= α β_k). Vectorised over all customers."""
    flat = counts.ravel()
    owner = np.repeat(np.arange(flat.size), flat)
    position = np.arange(owner.size) - np.repeat(np.cumsum(flat) - flat, flat)
    a = np.broadcast_to(concentration, counts.shape).ravel()[owner]
    opened = rng.random(owner.size) < a / (a + position)
    return np.bincount(owner, weights=opened, minlength=flat.size).reshape(counts.shape).astype(np.int64)


def resample_alpha(alpha: float, customers: np.ndarray, tables: int, hyper: Hyper, rng: np.random.Generator) -> float:
    """Teh et al. (2006) auxiliary variables: w_j ~ Beta(α + 1, n_j), s_j ~ Bernoulli(n_j / (n_j + α)),
    α ~ Gamma(a + m − Σ s_j, b − Σ log w_j) over restaurants with customers."""
    n = customers[customers > 0].astype(float)
    w = rng.beta(alpha + 1.0, n)
    s = rng.random(n.size) < n / (n + alpha)
    return float(rng.gamma(hyper.prior_shape + tables - s.sum(), 1.0 / (hyper.prior_rate - np.log(w).sum())))


def resample_gamma(gamma: float, n_states: int, tables: int, hyper: Hyper, rng: np.random.Generator) -> float:
    """Escobar & West (1995) for the top-level DP: η ~ Beta(γ + 1, m); γ from the two-component Gamma mixture."""
    eta = rng.beta(gamma + 1.0, tables)
    rate = hyper.prior_rate - np.log(eta)
    odds = (hyper.prior_shape + n_states - 1) / (tables * rate)
    shape = hyper.prior_shape + n_states - (rng.random() >= odds / (1 + odds))
    return float(rng.gamma(shape, 1.0 / rate))


def state_weights(state: LayerState, labels: np.ndarray, hyper: Hyper, leave_out: bool,
                  candidate: np.ndarray | None = None) -> np.ndarray:
    """Unnormalised log p(z_u = k | rest) for the existing states (N × K) and, for iCGMM, a last column for a new state
    whose emission ``candidate`` was drawn from the prior (Neal's algorithm 8 with one auxiliary state: all nodes of
    a batch sweep that pick it share one coherent new state; −∞ when absent or at ``states``). ``labels``: the
    node observations (label counts or continuous features, see emissions.py). ``leave_out`` removes u's own
    count."""
    k = state.n_states
    own = state.counts()[state.restaurant]
    if leave_out:
        own[np.arange(len(own)), state.z] -= 1
    prior = state.beta[:k] if hyper.infinite else np.full(k, 1.0 / k)
    log_weights = np.log(own + state.alpha * prior) + hyper.emission.log_likelihood(state.theta, labels)
    if not hyper.infinite:
        return log_weights
    if candidate is None or k >= hyper.states:
        return np.hstack([log_weights, np.full((len(labels), 1), -np.inf)])
    new = np.log(state.alpha * state.beta[-1]) + hyper.emission.log_likelihood(candidate, labels)
    return np.hstack([log_weights, new])


def batch_states(state: LayerState, labels: np.ndarray, hyper: Hyper, rng: np.random.Generator) -> LayerState:
    """Every node's state at once given the counts before the sweep; iCGMM: the nodes that pick the new-state column
    share one new state."""
    candidate = hyper.emission.sample_prior(labels, rng) if hyper.infinite else None
    z = _categorical(state_weights(state, labels, hyper, leave_out=True, candidate=candidate), rng)
    if not hyper.infinite:
        return replace(state, z=z)
    opened = z == state.n_states
    state = replace(state, z=np.where(opened, state.z, z))
    return add_state(state, opened, rng) if opened.any() else state


def sequential_states(state: LayerState, labels: np.ndarray, hyper: Hyper,
                      rng: np.random.Generator) -> Iterator[tuple[LayerState, np.ndarray]]:
    """The exact sampler: nodes in index order, each removed from its restaurant's counts, its state drawn with
    p(z_u = k) ∝ (n_{j_u k}^{−u} + α β_k) f(x_u | θ_k), and added back before the next node. iCGMM: a last option
    is a new state whose θ is a fresh prior draw for each node (Neal's algorithm 8 with one auxiliary state); taking
    it splits β_u with Beta(1, γ) at once, so the next node sees the new state. States emptied during the sweep keep
    their β until the sweep's end (``remove_empty``), as in the batch sweep.

    Yields, after each node, the state and the running n_{jk} (J × K) it was drawn with; both hold live arrays,
    valid until the next step. The last yield is the swept state."""
    z, counts, beta, theta = state.z.copy(), state.counts(), state.beta.copy(), state.theta
    log_likelihood = hyper.emission.log_likelihood(theta, labels)  # θ is fixed during the sweep
    # one prior draw per node (a prior draw is a posterior draw given no nodes)
    candidates = hyper.emission.sample_posterior(np.zeros(0, dtype=np.int64), labels[:0], len(labels), rng) \
        if hyper.infinite else None
    for u, j in enumerate(state.restaurant):
        k = theta.shape[0]
        counts[j, z[u]] -= 1
        prior = beta[:k] if hyper.infinite else np.full(k, 1.0 / k)
        log_weights = np.log(counts[j] + state.alpha * prior) + log_likelihood[u]
        if hyper.infinite and k < hyper.states:
            new = np.log(state.alpha * beta[-1]) + hyper.emission.log_likelihood(candidates[u:u + 1], labels[u:u + 1])
            log_weights = np.append(log_weights, new)
        z[u] = _categorical(log_weights[None], rng)[0]
        if z[u] == k:
            b = rng.beta(1.0, state.gamma)
            beta = np.concatenate([beta[:-1], [b * beta[-1], (1 - b) * beta[-1]]])
            theta = np.concatenate([theta, candidates[u:u + 1]])
            log_likelihood = np.hstack([log_likelihood,
                                        hyper.emission.log_likelihood(candidates[u:u + 1], labels)])
            counts = np.hstack([counts, np.zeros((len(counts), 1), dtype=counts.dtype)])
        counts[j, z[u]] += 1
        yield replace(state, z=z, beta=beta, theta=theta), counts


def resample_concentrations(state: LayerState, hyper: Hyper, rng: np.random.Generator) -> LayerState:
    """iCGMM after the states: drop empty states, draw the tables, β ~ Dir(m_{·1}, …, m_{·K}, γ), then α and γ
    unless fixed."""
    state = remove_empty(state)
    counts = state.counts()
    tables = sample_tables(counts, state.alpha * state.beta[:-1], rng)
    per_dish = np.maximum(tables.sum(axis=0), 1)  # a used dish has at least one table
    beta = rng.dirichlet(np.concatenate([per_dish, [state.gamma]]))
    alpha = state.alpha if hyper.alpha is not None else resample_alpha(
        state.alpha, counts.sum(axis=1), int(per_dish.sum()), hyper, rng)
    gamma = state.gamma if hyper.gamma is not None else resample_gamma(
        state.gamma, state.n_states, int(per_dish.sum()), hyper, rng)
    return replace(state, beta=beta, alpha=alpha, gamma=gamma)


def sweep(state: LayerState, labels: np.ndarray, hyper: Hyper, rng: np.random.Generator) -> LayerState:
    """One Gibbs sweep: the states (batch or sequential), then for iCGMM empty states, tables, β, α and γ; then θ
    from its posterior."""
    if hyper.sampler == "sequential":
        for state, _ in sequential_states(state, labels, hyper, rng):
            pass  # each step's state replaces the last; the final one is the swept state
    else:
        state = batch_states(state, labels, hyper, rng)
    if hyper.infinite:
        state = resample_concentrations(state, hyper, rng)
    return replace(state, theta=hyper.emission.sample_posterior(state.z, labels, state.n_states, rng))


def initial_state(restaurant: np.ndarray, n_restaurants: int, labels: np.ndarray, hyper: Hyper,
                  rng: np.random.Generator) -> LayerState:
    """Nodes start in uniformly random states: CGMM's ``states``, iCGMM's ``initial_states`` (a single starting
    state mixes slowly under the batch sweep: one new state per sweep has to out-compete a state holding every
    node; surplus starting states empty out and are removed); θ is drawn from the posterior of that assignment. α
    and γ start at 1 unless fixed."""
    n = len(restaurant)
    alpha = hyper.alpha if hyper.alpha is not None else 1.0
    gamma = hyper.gamma if hyper.gamma is not None else 1.0
    k = min(hyper.initial_states, hyper.states) if hyper.infinite else hyper.states
    z = rng.integers(k, size=n)
    beta = np.full(k + 1, 1.0 / (k + 1)) if hyper.infinite else np.full(k, 1.0 / k)
    theta = hyper.emission.sample_posterior(z, labels, k, rng)
    return LayerState(restaurant=restaurant, z=z, beta=beta, theta=theta, alpha=alpha, gamma=gamma,
                      n_restaurants=n_restaurants)


def posterior(state: LayerState, labels: np.ndarray, hyper: Hyper) -> np.ndarray:
    """p(z_u = k | x_u, j_u) over the existing states, rows summing to 1 (N × K): the node's layer embedding."""
    log_weights = state_weights(state, labels, hyper, leave_out=False)[:, :state.n_states]
    weights = np.exp(log_weights - log_weights.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def restaurants_from(previous: np.ndarray, adjacency: sp.csr_matrix) -> tuple[np.ndarray, int]:
    """Batch restaurants for the next layer: argmax of Σ_{v ∈ N(u)} post_v; isolated nodes share an extra one."""
    summed = adjacency @ previous
    isolated = summed.sum(axis=1) == 0
    k = previous.shape[1]
    return np.where(isolated, k, summed.argmax(axis=1)), k + 1


@dataclass(frozen=True)
class LayerResult:
    posterior: np.ndarray  # (N, K_ℓ)
    states_per_sweep: list[int]
    state: LayerState


def fit_layers(adjacency: sp.csr_matrix, labels: np.ndarray, hyper: Hyper, layers: int, sweeps: int,
               seed: int) -> list[LayerResult]:
    """Train layers 1..L in order, each with ``sweeps`` Gibbs sweeps; layer ℓ's restaurants come from layer ℓ−1.
    ``labels``: N × M label counts (Categorical–Dirichlet) or N × D features (Normal–Gamma)."""
    rng = np.random.default_rng(seed)
    restaurant, n_restaurants = np.zeros(len(labels), dtype=np.int64), 1
    results = []
    for layer in range(layers):
        if layer > 0:
            restaurant, n_restaurants = restaurants_from(results[-1].posterior, adjacency)
        state = initial_state(restaurant, n_restaurants, labels, hyper, rng)
        history = []
        for _ in range(sweeps):
            state = sweep(state, labels, hyper, rng)
            history.append(state.n_states)
        post = posterior(state, labels, hyper)
        results.append(LayerResult(posterior=post, states_per_sweep=history, state=state))
    return results
