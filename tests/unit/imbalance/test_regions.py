"""Label bins, shot regions scaled to the data's size, region metrics, and the imbalanced-regression data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import gmean

from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.evaluate.metrics import regression_metrics
from spotlab.tasks.imbalance.bins import FEW_SHOT, MANY_SHOT, LabelBins


def test_integer_labels_get_one_bin_each():
    labels = np.arange(5, 15, dtype=np.float32)
    bins = LabelBins.fit(labels, 10)
    assert np.array_equal(bins.index(labels), np.arange(10))
    assert bins.index(np.array([-3.0, 99.0])).tolist() == [0, 9]  # outside the training range: edge bins


def test_regions_scale_the_agedb_thresholds_to_the_mean_count():
    assert MANY_SHOT * 12_208 / 102 == pytest.approx(100) and FEW_SHOT * 12_208 / 102 == pytest.approx(20)
    labels = np.repeat([0.0, 1.0, 2.0, 3.0], [50, 40, 9, 1])  # mean 25 per bin: many > 20.9, few < 4.2
    regions = LabelBins.fit(labels, 4).regions(labels)
    assert regions.tolist() == ["many", "many", "medium", "few"]


def test_region_metrics_on_a_hand_case():
    train = np.repeat([0.0, 1.0, 2.0, 3.0], [50, 40, 9, 1])
    targets = np.array([0.0, 1.0, 2.0, 3.0, 3.0])
    predictions = np.array([1.0, 1.5, 2.0 + 4, 3.0 - 2, 3.0 + 8])
    metrics = regression_metrics(predictions, targets, train, bins=4)
    assert metrics["mae"] == pytest.approx(np.mean([1, 0.5, 4, 2, 8]))
    assert metrics["gm"] == pytest.approx(gmean([1, 0.5, 4, 2, 8]))
    assert metrics["many.mae"] == pytest.approx(0.75) and metrics["many.n"] == 2
    assert metrics["medium.mse"] == pytest.approx(16) and metrics["medium.n"] == 1
    assert metrics["few.mae"] == pytest.approx(5) and metrics["few.gm"] == pytest.approx(4)


def test_regions_without_test_samples_report_only_their_size():
    train = np.repeat([0.0, 1.0, 2.0, 3.0], [50, 40, 9, 1])
    metrics = regression_metrics(np.array([0.5]), np.array([0.0]), train, bins=4)
    assert metrics["few.n"] == 0 and "few.mae" not in metrics


def make(**dataset):
    return DataConfig.model_validate({"dataset": dataset, "test_fraction": 0.25})


def test_exponential_labels_are_imbalanced_for_training_and_balanced_for_testing():
    cfg = make(kind="synthetic-regression", labels="exponential", label_levels=10, imbalance=3.0, n_samples=4000)
    splits, info = prepare(cfg, seed=0)
    again, _ = prepare(cfg, seed=0)
    assert np.array_equal(splits.x_train, again.x_train) and np.array_equal(splits.y_test, again.y_test)
    assert info.task == "regression" and info.num_outputs == 1 and info.sizes["test"] == 1000
    assert np.array_equal(np.bincount(splits.y_test.astype(int)), np.full(10, 100))
    train = np.bincount(np.concatenate([splits.y_train, splits.y_val]).astype(int), minlength=10)
    # P(y) ∝ exp(−3y/10): the last label is e^{−2.7} ≈ 0.067 times as frequent as the first
    assert train[-1] / train[0] == pytest.approx(np.exp(-2.7), rel=0.35)
    assert np.all(np.diff(train[::3]) < 0)


def test_diabetes_is_the_bundled_regression_set():
    splits, info = prepare(make(kind="diabetes"), seed=0)
    assert info.task == "regression" and info.input_shape == (10,) and sum(info.sizes.values()) == 442
    labels = np.concatenate([splits.y_train, splits.y_val, splits.y_test])
    assert labels.min() == 25 and labels.max() == 346
