"""Evaluation of any ensemble: accuracy, NLL, Brier and ECE of the mean predictive distribution after temperature
scaling fitted on validation data, member disagreement, feature-space diversity, and accuracy under input noise."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from spotlab.tasks.evaluate.metrics import classification_metrics


@torch.no_grad()
def member_outputs(ensemble, x: torch.Tensor, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(member logits (M, n, K), member features (M, n, C)) of ``x`` in eval mode."""
    ensemble.eval()
    features = torch.cat([ensemble.features(x[i : i + batch_size]) for i in range(0, len(x), batch_size)], dim=1)
    return ensemble.head(features).numpy().astype(np.float64), features.numpy().astype(np.float64)


def mean_log_probs(member_logits: np.ndarray) -> np.ndarray:
    """(n, K) log of the members' mean softmax probabilities."""
    return np.logaddexp.reduce(log_softmax(member_logits, axis=-1), axis=0) - np.log(len(member_logits))


def nll(log_probs: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the labels after scaling the log-probabilities by 1 / ``temperature``."""
    return float(-log_softmax(log_probs / temperature, axis=1)[np.arange(len(labels)), labels].mean())


def fit_temperature(log_probs: np.ndarray, labels: np.ndarray) -> float:
    """T minimising the validation NLL of softmax(log p̄ / T). The NLL is convex in β = 1/T (a one-parameter
    multinomial logistic regression), so scipy's bounded scalar search over β ∈ [0.01, 100] finds its minimum."""
    result = minimize_scalar(lambda beta: nll(log_probs, labels, 1.0 / beta), bounds=(0.01, 100.0), method="bounded",
                             options={"xatol": 1e-6})
    return float(1.0 / result.x)


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean over examples of Σ_k (p_k − 1[k = y])²."""
    return float(((probs - np.eye(probs.shape[1])[labels]) ** 2).sum(1).mean())


def disagreement(member_logits: np.ndarray) -> float:
    """Mean over member pairs of the fraction of examples on which their top classes differ."""
    predictions = member_logits.argmax(-1)
    return float(np.mean([(predictions[p] != predictions[q]).mean()
                          for p, q in combinations(range(len(predictions)), 2)]))


def linear_cka(a: np.ndarray, b: np.ndarray) -> float:
    """Linear centred kernel alignment of two (n, C) feature matrices (Kornblith et al., 2019): 1 for features that
    differ by a rotation and scale, lower the more the representations differ."""
    a, b = a - a.mean(0), b - b.mean(0)
    cross = np.linalg.norm(b.T @ a) ** 2
    return float(cross / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)))


def feature_diversity(features: np.ndarray) -> float:
    """1 − mean pairwise linear CKA of the members' (n, C) features. CKA ignores rotations and scale, so members
    with their own heads (whose feature spaces need not align) and members sharing a head are measured alike."""
    return 1.0 - float(np.mean([linear_cka(features[p], features[q])
                                for p, q in combinations(range(len(features)), 2)]))


def ensemble_metrics(ensemble, x_val: np.ndarray, y_val: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                     bins: int = 15) -> tuple[dict[str, float], np.ndarray]:
    """Test metrics with the temperature fitted on the validation split, and the calibrated test probabilities."""
    val_logits, _ = member_outputs(ensemble, torch.as_tensor(x_val))
    temperature = fit_temperature(mean_log_probs(val_logits), y_val)
    test_logits, test_features = member_outputs(ensemble, torch.as_tensor(x_test))
    log_probs = mean_log_probs(test_logits)
    calibrated = classification_metrics(log_probs / temperature, y_test, bins)
    probs = np.exp(log_softmax(log_probs / temperature, axis=1))
    metrics = {
        "accuracy": calibrated["accuracy"],
        "nll": calibrated["nll"],
        "brier": brier(probs, y_test),
        "ece": calibrated["ece"],
        "nll_uncalibrated": nll(log_probs, y_test),
        "temperature": temperature,
        "member_accuracy": float((test_logits.argmax(-1) == y_test).mean()),
        "disagreement": disagreement(test_logits),
        "feature_diversity": feature_diversity(test_features),
    }
    return metrics, probs


def noisy_accuracy(ensemble, x: np.ndarray, y: np.ndarray, sigma: float, bounds, seed: int) -> float:
    """Accuracy of the ensemble's mean prediction on x + σ·N(0, I), clipped to the input box when there is one."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(x)
    noisy = x + sigma * torch.randn(x.shape, generator=generator)
    if bounds is not None:
        noisy = noisy.clamp(*bounds)
    logits, _ = member_outputs(ensemble, noisy)
    return float((mean_log_probs(logits).argmax(1) == y).mean())
