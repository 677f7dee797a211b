"""Data preparation: seeded, stratified, disjoint splits; the datasets' descriptions; no downloads."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.data.datasets import prepare


def make(**dataset):
    return DataConfig.model_validate({"dataset": dataset})


def test_digits_splits_are_seeded_stratified_and_disjoint():
    a, info = prepare(make(kind="digits"), seed=0)
    b, _ = prepare(make(kind="digits"), seed=0)
    c, _ = prepare(make(kind="digits"), seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a.arrays().values(), b.arrays().values()))
    assert not np.array_equal(a.y_test, c.y_test)
    assert (info.task, info.input_shape, info.num_outputs, info.bounds) == ("classification", (1, 8, 8), 10, (0.0, 1.0))
    assert sum(info.sizes.values()) == 1797 and info.sizes["test"] == 360
    assert a.x_train.min() >= 0 and a.x_train.max() <= 1
    # stratified: every class keeps (almost) its share in the test split
    share = np.bincount(a.y_test) / len(a.y_test)
    assert np.abs(share - 0.1).max() < 0.01
    rows = {r.tobytes() for r in a.x_train} & {r.tobytes() for r in a.x_test}
    assert len(rows) <= 3  # the digits set itself holds a few duplicate images, nothing more


def test_digit_subsets_are_relabelled():
    splits, info = prepare(make(kind="digits", classes=[5, 6, 7, 8, 9]), seed=0)
    assert info.num_outputs == 5 and set(np.unique(splits.y_train)) == {0, 1, 2, 3, 4}


def test_synthetic_regression_imbalance_skews_the_labels():
    balanced = prepare(make(kind="synthetic-regression", n_samples=600, imbalance=0.0), seed=0)[0]
    skewed = prepare(make(kind="synthetic-regression", n_samples=600, imbalance=2.0), seed=0)[0]
    from scipy.stats import skew

    assert len(skewed.y_train) + len(skewed.y_val) + len(skewed.y_test) == 600
    assert skew(skewed.y_train) < skew(balanced.y_train) - 0.5  # high labels became rare: a long right tail


def test_synthetic_classification_statistics_guard_constant_features():
    splits, info = prepare(make(kind="synthetic-classification", n_samples=200, n_features=5, n_informative=3,
                                n_classes=3), seed=3)
    assert info.input_shape == (5,) and info.num_outputs == 3 and info.bounds is None
    assert np.allclose(info.mean, splits.x_train.mean(0), atol=1e-5)


def test_torchvision_sets_are_read_from_a_local_root_without_downloading(tmp_path):
    with pytest.raises(FileNotFoundError, match="set download: true"):
        prepare(make(kind="mnist", root=str(tmp_path)), seed=0)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 200), ("t10k", 20)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())
    splits, info = prepare(make(kind="mnist", root=str(tmp_path), max_test=10), seed=0)
    assert info.input_shape == (1, 28, 28) and info.sizes["test"] == 10
    assert info.sizes["train"] + info.sizes["val"] == 200
    assert 0.0 <= splits.x_train.min() and splits.x_train.max() <= 1.0
