"""Classification and regression metrics (scikit-learn where it has them; ECE is not in scikit-learn)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, log_loss, mean_absolute_error, mean_squared_error


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


def regression_metrics(predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    mse = mean_squared_error(targets, predictions)
    return {"loss": float(mse), "mse": float(mse), "mae": float(mean_absolute_error(targets, predictions)),
            "n": int(len(targets))}
