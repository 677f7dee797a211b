"""Classification and regression metrics (scikit-learn where it has them; ECE is not in scikit-learn).

Regression also reports each metric on the many/medium/few-shot label regions of the training distribution
(tasks/imbalance/bins.py: thresholds scaled to the data's size) as ``<region>.<metric>``, regions without test
samples giving only ``<region>.n = 0``; ``gm`` is the geometric mean of the per-sample absolute errors."""

from __future__ import annotations

import numpy as np
from scipy.stats import gmean
from sklearn.metrics import accuracy_score, log_loss, mean_absolute_error, mean_squared_error

from spotlab.tasks.imbalance.bins import REGIONS, LabelBins


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def calibration_bins(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> list[tuple[float, float, float]]:
    """(fraction of examples, accuracy, mean confidence) of each non-empty equal-width bin of the top-class
    confidence: the points of a reliability diagram."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    return [(float(members.mean()), float(correct[members].mean()), float(confidence[members].mean()))
            for members in (which == b for b in range(bins)) if members.any()]


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Σ_b (|b|/n)·|accuracy(b) − confidence(b)| over equal-width bins of the top-class confidence."""
    return float(sum(weight * abs(accuracy - confidence)
                     for weight, accuracy, confidence in calibration_bins(probs, labels, bins)))


def classification_metrics(logits: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict[str, float]:
    probs = softmax(logits.astype(np.float64))
    nll = log_loss(labels, probs, labels=np.arange(probs.shape[1]))
    return {
        "accuracy": float(accuracy_score(labels, probs.argmax(axis=1))),
        "loss": float(nll),  # the training loss (cross-entropy) equals the NLL for softmax classifiers
        "nll": float(nll),
        "ece": expected_calibration_error(probs, labels, bins),
        "n": int(len(labels)),
    }


def _errors(predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    return {"mse": float(mean_squared_error(targets, predictions)),
            "mae": float(mean_absolute_error(targets, predictions)),
            "gm": float(gmean(np.abs(predictions - targets))), "n": int(len(targets))}


def regression_metrics(predictions: np.ndarray, targets: np.ndarray, train_labels: np.ndarray | None = None,
                       bins: int = 100) -> dict[str, float]:
    """MSE (also as ``loss``), MAE and GM overall, and per shot region when ``train_labels`` are given."""
    metrics = _errors(predictions, targets)
    metrics["loss"] = metrics["mse"]
    if train_labels is not None:
        label_bins = LabelBins.fit(train_labels, bins)
        region = label_bins.regions(train_labels)[label_bins.index(targets)]
        for name in REGIONS:
            members = region == name
            scores = _errors(predictions[members], targets[members]) if members.any() else {"n": 0}
            metrics.update({f"{name}.{k}": v for k, v in scores.items()})
    return metrics
