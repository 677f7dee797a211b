"""OOD scores and detection metrics for any classifier.

The score is the negative free energy, logsumexp of the logits (T = 1): larger means "more in-distribution".
Metrics treat ID as the positive class and take the ROC curve from scikit-learn: FPR95 is the fraction of OOD
examples accepted at the largest threshold that still accepts 95 % of the ID examples; AUROC is the area under
that curve.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from spotlab.tasks.train.loop import predict


def energy_score(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """T·logsumexp(f/T) = −E(x): high for ID, low for OOD."""
    return temperature * torch.logsumexp(logits / temperature, dim=1)


def fpr_at_tpr(id_scores: np.ndarray, ood_scores: np.ndarray, tpr_level: float = 0.95) -> float:
    """FPR at the first ROC point whose TPR (ID accepted) reaches ``tpr_level``."""
    labels = np.r_[np.ones(len(id_scores)), np.zeros(len(ood_scores))]
    fpr, tpr, _ = roc_curve(labels, np.r_[id_scores, ood_scores], drop_intermediate=False)
    return float(fpr[np.searchsorted(tpr, tpr_level, side="left")])


def detection_metrics(id_scores: np.ndarray, ood_scores: np.ndarray) -> dict[str, float]:
    labels = np.r_[np.ones(len(id_scores)), np.zeros(len(ood_scores))]
    return {
        "fpr95": fpr_at_tpr(id_scores, ood_scores, 0.95),
        "auroc": float(roc_auc_score(labels, np.r_[id_scores, ood_scores])),
    }


def evaluate_ood(model: nn.Module, x_id: torch.Tensor, y_id: torch.Tensor, x_ood: torch.Tensor) -> dict:
    """FPR95, AUROC and ID accuracy of ``model`` with the energy score, plus the scores themselves (arrays)."""
    id_logits, ood_logits = predict(model, x_id), predict(model, x_ood)
    id_scores, ood_scores = energy_score(id_logits).numpy(), energy_score(ood_logits).numpy()
    metrics = detection_metrics(id_scores, ood_scores)
    metrics["id_accuracy"] = float((id_logits.argmax(1) == y_id).float().mean())
    return {"metrics": metrics, "id_scores": id_scores, "ood_scores": ood_scores}
