"""Graph datasets as one disjoint union: a block-diagonal scipy.sparse adjacency over all nodes, each node's graph
index and discrete label, and one target per graph. Seeded generators with known latent node types, and a reader for
TU-format directories (no download)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class GraphDataset:
    """``adjacency`` (N × N, symmetric CSR, block-diagonal over graphs), ``graph`` (N,) graph index of each node,
    ``labels`` (N × n_symbols) counts of each node's discrete labels (one-hot for one label per node), ``targets``
    (G,) graph classes and, for generated data, ``types`` (N,) the latent node types."""

    adjacency: sp.csr_matrix
    graph: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    n_symbols: int
    types: np.ndarray | None = None

    @property
    def n_graphs(self) -> int:
        return len(self.targets)

    def membership(self) -> sp.csr_matrix:
        """G × N indicator of which graph each node belongs to (pooling is ``membership() @ node_features``)."""
        n = len(self.graph)
        return sp.csr_matrix((np.ones(n), (self.graph, np.arange(n))), shape=(self.n_graphs, n))


def one_hot(drawn: np.ndarray, n_symbols: int) -> np.ndarray:
    """N × n_symbols counts of the labels in each row of ``drawn`` (N × draws)."""
    counts = np.zeros((len(drawn), n_symbols))
    np.add.at(counts, (np.repeat(np.arange(len(drawn)), drawn.shape[1]), drawn.ravel()), 1)
    return counts


def _random_edges(probabilities: np.ndarray, rng: np.random.Generator) -> sp.csr_matrix:
    """Symmetric adjacency with independent edges i < j drawn with ``probabilities[i, j]`` (no self-loops)."""
    upper = sp.triu(sp.csr_matrix(rng.random(probabilities.shape) < probabilities), k=1)
    return (upper + upper.T).tocsr().astype(np.float64)


def _union(adjacencies: list[sp.csr_matrix], labels: list[np.ndarray], targets: np.ndarray, n_symbols: int,
           types: list[np.ndarray]) -> GraphDataset:
    sizes = [a.shape[0] for a in adjacencies]
    return GraphDataset(adjacency=sp.block_diag(adjacencies, format="csr"),
                        graph=np.repeat(np.arange(len(sizes)), sizes), labels=np.vstack(labels),
                        targets=np.asarray(targets), n_symbols=n_symbols, types=np.concatenate(types))


def typed_graphs(n_graphs: int, nodes: int, n_types: int, symbols_per_type: int, draws: int, label_noise: float,
                 degree: float, seed: int) -> GraphDataset:
    """Erdős–Rényi graphs whose nodes have a latent type drawn uniformly from ``n_types``; each node carries
    ``draws`` labels, each uniform among its type's own ``symbols_per_type`` symbols with probability
    1 − ``label_noise`` and uniform among all symbols otherwise. With one draw per node a mixture of categoricals
    is not identifiable (any split of the label marginal fits equally), so counting states needs draws ≥ 2.
    Targets are all 0 (a clustering benchmark: the types are the truth)."""
    rng = np.random.default_rng(seed)
    n_symbols = n_types * symbols_per_type
    adjacencies, labels, types = [], [], []
    for _ in range(n_graphs):
        t = rng.integers(n_types, size=nodes)
        own = t[:, None] * symbols_per_type + rng.integers(symbols_per_type, size=(nodes, draws))
        drawn = np.where(rng.random((nodes, draws)) < label_noise, rng.integers(n_symbols, size=(nodes, draws)), own)
        labels.append(one_hot(drawn, n_symbols))
        adjacencies.append(_random_edges(np.full((nodes, nodes), degree / max(nodes - 1, 1)), rng))
        types.append(t)
    return _union(adjacencies, labels, np.zeros(n_graphs, dtype=int), n_symbols, types)


def sbm_pair(n_graphs: int, nodes: int, blocks: int, degree: float, homophily: float, seed: int) -> GraphDataset:
    """Two classes of stochastic-block-model graphs with the same label marginals. Each node's label is its block
    (uniform over ``blocks``); an edge's expected fraction inside a block is ``homophily`` for class 0 and
    1 − ``homophily`` for class 1, at the same expected ``degree``. Label histograms (unigrams) carry no class
    signal; which labels sit next to each other (bigrams) does. Balanced classes, shuffled order."""
    rng = np.random.default_rng(seed)
    targets = rng.permutation(np.arange(n_graphs) % 2)
    inside = nodes / blocks - 1
    outside = nodes - nodes / blocks
    adjacencies, labels = [], []
    for target in targets:
        share = homophily if target == 0 else 1 - homophily
        block = rng.integers(blocks, size=nodes)
        same = block[:, None] == block[None, :]
        adjacencies.append(_random_edges(np.where(same, degree * share / inside, degree * (1 - share) / outside),
                                         rng))
        labels.append(block)
    return _union(adjacencies, [one_hot(b[:, None], blocks) for b in labels], targets, blocks, labels)


TU_FILES = ("{name}_A.txt", "{name}_graph_indicator.txt", "{name}_graph_labels.txt")


def read_tu(root: str | Path, name: str, max_degree: int = 20) -> GraphDataset:
    """A TU-format dataset from ``root/name/`` (or ``root`` itself). Node labels come from ``{name}_node_labels.txt``
    when present, else from the node degree clipped at ``max_degree`` (social datasets have no node labels; the
    paper uses degree as a continuous feature, we discretise it)."""
    folder = Path(root) / name if (Path(root) / name).is_dir() else Path(root)
    needed = [folder / f.format(name=name) for f in TU_FILES]
    missing = [p.name for p in needed if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"TU dataset {name!r} not found under {folder}: expected files {', '.join(missing)} "
                                "(download it from https://chrsmrrs.github.io/datasets/ yourself; spotlab never "
                                "downloads)")
    edges = np.loadtxt(needed[0], delimiter=",", dtype=np.int64).reshape(-1, 2) - 1
    graph = np.loadtxt(needed[1], dtype=np.int64) - 1
    _, targets = np.unique(np.loadtxt(needed[2], dtype=np.int64), return_inverse=True)
    n = len(graph)
    adjacency = sp.csr_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64).tocsr()
    adjacency.setdiag(0)
    adjacency.eliminate_zeros()
    node_labels = folder / f"{name}_node_labels.txt"
    if node_labels.is_file():
        _, labels = np.unique(np.loadtxt(node_labels, delimiter=",", dtype=np.int64).reshape(n, -1)[:, 0],
                              return_inverse=True)
    else:
        labels = np.minimum(np.asarray(adjacency.sum(1)).ravel().astype(np.int64), max_degree)
    n_symbols = int(labels.max()) + 1
    return GraphDataset(adjacency=adjacency, graph=graph, labels=one_hot(labels[:, None], n_symbols),
                        targets=targets, n_symbols=n_symbols)
