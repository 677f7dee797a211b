"""Evaluation metrics on exact small cases."""

from __future__ import annotations

import numpy as np
import pytest

from spotlab.tasks.evaluate.metrics import classification_metrics, expected_calibration_error, regression_metrics


def test_ece_exact_small_case():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 1])
    # bins of width 0.5: {0.6}: acc 1 vs conf 0.6; {0.7}: acc 1 vs 0.7; {0.9, 0.9}: acc 0.5 vs 0.9 (bins=2 → all
    # three confidences ≥ 0.5 fall in the top bin: acc 3/4, conf 0.775)
    assert expected_calibration_error(probs, labels, bins=2) == pytest.approx(abs(0.75 - 0.775))
    assert expected_calibration_error(probs, labels, bins=10) == pytest.approx(
        0.25 * 0.4 + 0.25 * 0.3 + 0.5 * abs(0.5 - 0.9)
    )


def test_perfectly_confident_correct_predictions():
    logits = np.array([[50.0, 0.0], [0.0, 50.0]])
    metrics = classification_metrics(logits, np.array([0, 1]))
    assert metrics["accuracy"] == 1.0 and metrics["nll"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["ece"] == pytest.approx(0.0, abs=1e-12)


def test_nll_of_uniform_predictions_is_log_classes():
    metrics = classification_metrics(np.zeros((4, 5)), np.array([0, 1, 2, 3]))
    assert metrics["nll"] == pytest.approx(np.log(5))


def test_regression_metrics():
    metrics = regression_metrics(np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0]))
    assert metrics["mse"] == pytest.approx(5 / 3) and metrics["mae"] == pytest.approx(1.0)
