"""Graph embeddings from per-layer node-state posteriors: unigram pool(post_u) (C values per layer) and bigram
pool(post_u ⊗ Σ_{v ∈ N(u)} post_v) (C² values), sum or mean over each graph's nodes, concatenated over layers."""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

Pooling = Literal["sum", "mean"]


def _pool(membership: sp.csr_matrix, node_features: np.ndarray, pooling: Pooling) -> np.ndarray:
    pooled = membership @ node_features
    if pooling == "mean":
        pooled = pooled / np.maximum(np.asarray(membership.sum(axis=1)), 1)
    return np.asarray(pooled)


def unigram_features(posterior: np.ndarray, membership: sp.csr_matrix, pooling: Pooling) -> np.ndarray:
    """G × C: pool(post_u)."""
    return _pool(membership, posterior, pooling)


def bigram_features(posterior: np.ndarray, adjacency: sp.csr_matrix, membership: sp.csr_matrix,
                    pooling: Pooling) -> np.ndarray:
    """G × C²: pool(post_u ⊗ Σ_{v ∈ N(u)} post_v)."""
    neighbours = adjacency @ posterior
    pairs = (posterior[:, :, None] * neighbours[:, None, :]).reshape(len(posterior), -1)
    return _pool(membership, pairs, pooling)


def layer_embedding(posterior: np.ndarray, adjacency: sp.csr_matrix, membership: sp.csr_matrix, bigram: bool,
                    pooling: Pooling) -> np.ndarray:
    """G × C (unigram) or G × (C + C²) (unigram then bigram) features of one layer."""
    parts = [unigram_features(posterior, membership, pooling)]
    if bigram:
        parts.append(bigram_features(posterior, adjacency, membership, pooling))
    return np.hstack(parts)


def graph_embedding(posteriors: list[np.ndarray], adjacency: sp.csr_matrix, membership: sp.csr_matrix,
                    bigram: bool, pooling: Pooling = "mean") -> np.ndarray:
    """Layers' embeddings concatenated."""
    return np.hstack([layer_embedding(p, adjacency, membership, bigram, pooling) for p in posteriors])
