"""Attack losses, all written as the per-example value an attack *maximises*.

Untargeted attacks push the true class y down; targeted ones pull the target t up, so a loss that is naturally
minimised for a target (CE to t, the MD loss) enters with a minus sign here. This is where the CGD authors' code
went wrong: their targeted APGD minimised the targeted DLR, which Croce & Hein define for maximisation, and so
pushed examples away from the target. Keeping one direction (ascent) for every attack rules that out.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

LossName = Literal["ce", "cw", "dlr", "md"]


def _largest_other(logits: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """max_{i ≠ cls} z_i per example."""
    masked = logits.scatter(1, cls[:, None], float("-inf"))
    return masked.amax(1)


def _logit(logits: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    return logits.gather(1, cls[:, None]).squeeze(1)


def md_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The CGD paper's MD loss Σ_i ReLU(z_i − z_t), zero exactly when the target logit is the largest (minimised)."""
    return F.relu(logits - _logit(logits, target)[:, None]).sum(1)


def dlr(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Croce & Hein's untargeted DLR: −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3), scale-invariant (maximised)."""
    if logits.shape[1] < 3:
        raise ValueError(f"the DLR loss needs at least 3 classes, the model has {logits.shape[1]}")
    ordered = logits.sort(1, descending=True).values
    return -(_logit(logits, y) - _largest_other(logits, y)) / (ordered[:, 0] - ordered[:, 2] + 1e-12)


def targeted_dlr(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Croce & Hein's targeted DLR: −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2), maximised (it grows with z_t)."""
    if logits.shape[1] < 4:
        raise ValueError(f"the targeted DLR loss needs at least 4 classes, the model has {logits.shape[1]}")
    ordered = logits.sort(1, descending=True).values
    scale = ordered[:, 0] - (ordered[:, 2] + ordered[:, 3]) / 2 + 1e-12
    return -(_logit(logits, y) - _logit(logits, target)) / scale


def attack_objective(
    loss: LossName, logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, kappa: float = 0.0
) -> torch.Tensor:
    """Per-example value to maximise: untargeted when ``target`` is None, else towards ``target``."""
    if target is None:
        if loss == "ce":
            return F.cross_entropy(logits, y, reduction="none")
        if loss == "cw":
            return (_largest_other(logits, y) - _logit(logits, y)).clamp(max=kappa)
        if loss == "dlr":
            return dlr(logits, y)
        raise ValueError("the md loss needs a target: set targeted: true")
    if loss == "ce":
        return -F.cross_entropy(logits, target, reduction="none")
    if loss == "cw":
        return (_logit(logits, target) - _largest_other(logits, target)).clamp(max=kappa)
    if loss == "dlr":
        return targeted_dlr(logits, y, target)
    return -md_loss(logits, target)


def succeeded(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Untargeted: the prediction is not y. Targeted: the prediction is the target."""
    prediction = logits.argmax(1)
    return prediction != y if target is None else prediction == target
