"""The Dirichlet split: a partition of the pool, the specified label skew, IID as α → ∞, seeded; client sampling."""

from __future__ import annotations

import numpy as np
import pytest

from spotlab.tasks.federated.clients import dirichlet_split, sample_clients


def class_shares(labels, split, classes):
    """shares[c, m]: the fraction of class c's examples that client m holds."""
    counts = np.stack([np.bincount(labels[part], minlength=classes) for part in split], axis=1).astype(float)
    return counts / counts.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("alpha", [None, 0.1, 1.0])
def test_every_example_goes_to_exactly_one_client(alpha):
    labels = np.random.default_rng(0).integers(0, 10, size=1000)
    split = dirichlet_split(labels, clients=7, alpha=alpha, seed=3)
    assert len(split) == 7
    assert np.array_equal(np.sort(np.concatenate(split)), np.arange(1000))
    assert all(np.all(np.diff(part) > 0) for part in split)


def test_iid_split_has_near_equal_sizes_and_the_global_label_mix():
    labels = np.repeat(np.arange(10), 500)
    split = dirichlet_split(labels, clients=8, alpha=None, seed=0)
    sizes = [len(p) for p in split]
    assert max(sizes) - min(sizes) <= 1
    assert np.abs(class_shares(labels, split, 10) - 1 / 8).max() < 0.05


@pytest.mark.parametrize("alpha", [0.1, 0.5, 2.0])
def test_class_shares_have_the_dirichlet_spread(alpha):
    # Each class's shares over M clients ~ Dirichlet(α·1): mean 1/M, variance (1/M)(1 − 1/M)/(Mα + 1).
    clients, classes = 10, 300
    labels = np.repeat(np.arange(classes), 2000)
    shares = class_shares(labels, dirichlet_split(labels, clients, alpha, seed=1, min_size=0), classes)
    expected = (1 / clients) * (1 - 1 / clients) / (clients * alpha + 1)
    assert shares.mean() == pytest.approx(1 / clients)
    assert shares.var() == pytest.approx(expected, rel=0.15)


def test_smaller_alpha_concentrates_clients_on_fewer_classes():
    labels = np.repeat(np.arange(10), 200)

    def top_class_fraction(alpha):
        split = dirichlet_split(labels, 20, alpha, seed=2)
        return np.mean([np.bincount(labels[p], minlength=10).max() / len(p) for p in split])

    assert top_class_fraction(0.1) > top_class_fraction(0.5) > top_class_fraction(None)


def test_split_is_seeded_and_enforces_the_minimum_size():
    labels = np.repeat(np.arange(5), 40)
    first = dirichlet_split(labels, 10, 0.3, seed=5, min_size=4)
    again = dirichlet_split(labels, 10, 0.3, seed=5, min_size=4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert min(len(p) for p in first) >= 4
    assert any(not np.array_equal(a, b) for a, b in zip(first, dirichlet_split(labels, 10, 0.3, seed=6, min_size=4)))
    with pytest.raises(ValueError, match="min_client_size=100"):
        dirichlet_split(labels, 10, 0.3, seed=5, min_size=100)


def test_client_sampling_is_seeded_per_round_without_replacement():
    chosen = [sample_clients(20, 5, seed=0, round_index=r) for r in range(30)]
    assert all(len(set(c)) == 5 and all(0 <= i < 20 for i in c) for c in chosen)
    assert chosen[3] == sample_clients(20, 5, seed=0, round_index=3)
    assert len({tuple(c) for c in chosen}) > 20
    assert sample_clients(4, 4, seed=0, round_index=0) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="clients_per_round=5"):
        sample_clients(4, 5, seed=0, round_index=0)
