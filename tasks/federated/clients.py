"""Clients of a federated run: a seeded Dirichlet(α) non-IID split of a labelled pool, and per-round sampling.

For every class, the shares of its examples held by the M clients are drawn from Dirichlet(α·1_M) (Hsu et al.,
2019): small α gives each client a few dominant classes, α → ∞ tends to the IID split, which ``alpha=None``
gives exactly (a seeded permutation cut into near-equal parts). A draw that leaves a client with fewer than
``min_size`` examples is redrawn from the same stream, so the split is a pure function of (labels, M, α, seed).
"""

from __future__ import annotations

import numpy as np

MAX_DRAWS = 1000


def dirichlet_split(
    labels: np.ndarray, clients: int, alpha: float | None, seed: int, min_size: int = 1
) -> list[np.ndarray]:
    """Each client's example indices (sorted); every index is held by exactly one client."""
    if clients < 1 or clients > len(labels):
        raise ValueError(f"clients={clients} must be between 1 and the {len(labels)} examples of the pool")
    rng = np.random.default_rng(seed)
    if alpha is None:
        return [np.sort(part) for part in np.array_split(rng.permutation(len(labels)), clients)]
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    for _ in range(MAX_DRAWS):
        parts: list[list[np.ndarray]] = [[] for _ in range(clients)]
        for members in by_class:
            members = rng.permutation(members)
            shares = rng.dirichlet(np.full(clients, alpha))
            cuts = np.round(np.cumsum(shares)[:-1] * len(members)).astype(int)
            for part, chunk in zip(parts, np.split(members, cuts)):
                part.append(chunk)
        split = [np.sort(np.concatenate(part)) for part in parts]
        if min(len(s) for s in split) >= min_size:
            return split
    raise ValueError(
        f"alpha={alpha} with {clients} clients left some client with fewer than min_client_size={min_size} "
        f"examples in {MAX_DRAWS} draws; raise alpha, lower clients or lower min_client_size"
    )


def sample_clients(clients: int, per_round: int, seed: int, round_index: int) -> list[int]:
    """The clients taking part in round ``round_index``: ``per_round`` of them, without replacement, seeded by
    (seed, round) so that any round can be replayed on its own."""
    if not 1 <= per_round <= clients:
        raise ValueError(f"clients_per_round={per_round} must be between 1 and clients={clients}")
    rng = np.random.default_rng([seed, round_index])
    return sorted(int(c) for c in rng.choice(clients, size=per_round, replace=False))
