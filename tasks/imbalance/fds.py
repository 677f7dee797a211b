"""Feature-distribution smoothing (Yang et al. 2021) as an objective wrapper (``fds``): during training the features
entering the regression head are recalibrated toward statistics smoothed across neighbouring label bins.

Per label bin b the smoother keeps running feature statistics μ_b, σ²_b: each epoch's per-bin mean and variance
(of the un-calibrated training features) are folded in with momentum 0.9 (the first epoch sets them), then
smoothed across bins with the Gaussian window (normalised to sum 1, mirrored at the ends) into μ̃_b, σ̃²_b. From
the second epoch on a feature z of a sample in bin b is replaced by (z − μ_b)·√clip(σ̃²_b/σ²_b, 0.1, 10) + μ̃_b
(feature dimensions with σ²_b = 0 stay as they are). Evaluation never calibrates.

An "epoch" is every N calibrated-forward samples, N the training-set size, since an objective does not see epoch
boundaries: optimizers that run the objective twice per step (SAM family) update the statistics twice per epoch.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.imbalance.bins import LabelBins, gaussian_window, smooth
from spotlab.tasks.imbalance.composition import build_objective, head_transform, require_regression

CLIP = (0.1, 10.0)


def calibrate(z: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, smoothed_mean: torch.Tensor,
              smoothed_var: torch.Tensor) -> torch.Tensor:
    """(z − μ)·√clip(σ̃²/σ², 0.1, 10) + μ̃ row-wise (each row of the statistics belongs to the row of ``z``),
    leaving dimensions with σ² = 0 unchanged."""
    valid = var > 0
    factor = torch.where(valid, smoothed_var / torch.where(valid, var, 1.0), 1.0).clamp(*CLIP)
    return torch.where(valid, (z - mean) * factor.sqrt() + smoothed_mean, z)


class FeatureSmoother:
    """Per-bin running feature statistics and their smoothed versions (see module docstring)."""

    def __init__(self, bins: int, window: np.ndarray, momentum: float, epoch_size: int):
        self.bins, self.window, self.momentum, self.epoch_size = bins, window / window.sum(), momentum, epoch_size
        self.ready = False  # statistics of at least one full epoch exist
        self.stats: dict[str, torch.Tensor] = {}

    def _start(self, dim: int, like: torch.Tensor) -> None:
        zeros = lambda: torch.zeros(self.bins, dim, dtype=torch.float64, device=like.device)  # noqa: E731
        self.stats = {"mean": zeros(), "var": zeros() + 1, "count": torch.zeros(self.bins, device=like.device),
                      "sum": zeros(), "sumsq": zeros()}
        self.seen = 0
        self.smoothed_mean, self.smoothed_var = self.stats["mean"].clone(), self.stats["var"].clone()

    def observe(self, z: torch.Tensor, bins: torch.Tensor) -> None:
        if not self.stats:
            self._start(z.shape[1], z)
        z = z.detach().double()
        self.stats["count"].index_add_(0, bins, torch.ones(len(bins), device=z.device))
        self.stats["sum"].index_add_(0, bins, z)
        self.stats["sumsq"].index_add_(0, bins, z.square())
        self.seen += len(bins)
        if self.seen >= self.epoch_size:
            self._end_epoch()

    def _end_epoch(self) -> None:
        s = self.stats
        present = s["count"] > 0
        n = s["count"][present].unsqueeze(1)
        mean = s["sum"][present] / n
        var = (s["sumsq"][present] - n * mean.square()) / (n - 1).clamp(min=1)  # unbiased; one sample → 0
        keep = self.momentum if self.ready else 0.0
        s["mean"][present] = keep * s["mean"][present] + (1 - keep) * mean
        s["var"][present] = keep * s["var"][present] + (1 - keep) * var.clamp(min=0)
        for key in ("count", "sum", "sumsq"):
            s[key].zero_()
        self.seen = 0
        device = s["mean"].device
        self.smoothed_mean = torch.as_tensor(smooth(s["mean"].cpu().numpy(), self.window, "reflect"), device=device)
        self.smoothed_var = torch.as_tensor(smooth(s["var"].cpu().numpy(), self.window, "reflect"), device=device)
        self.ready = True

    def calibrate(self, z: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
        if not self.ready:
            return z
        s = self.stats
        return calibrate(z, s["mean"][bins].to(z.dtype), s["var"][bins].to(z.dtype),
                         self.smoothed_mean[bins].to(z.dtype), self.smoothed_var[bins].to(z.dtype))


class FDSConfig(ConfigModel):
    """Feature-distribution smoothing around any objective (``base``), e.g. erm or lds (LDS + FDS)."""

    kind: Literal["fds"] = "fds"
    base: "PlainObjectiveConfig" = Field(  # noqa: F821 - resolved in tasks/train/objectives.py
        default_factory=lambda: {"kind": "erm"}, validate_default=True,
        description="The objective whose forward passes see the calibrated features (by kind; one that wraps "
        "nothing: erm, pgd-at, trades, prl, lds).",
    )
    bins: int = Field(100, ge=2, description="Equal-width label bins over the training label range.")
    kernel_size: int = Field(5, ge=1, description="Taps of the Gaussian window (odd).")
    sigma: float = Field(2.0, gt=0, description="Width of the Gaussian window, in bins.")
    momentum: float = Field(0.9, ge=0, lt=1, description="Weight of the old running statistics at each epoch.")

    needs_labels: ClassVar[bool] = True

    def build(self, task: str, bounds, train_labels: torch.Tensor):
        require_regression(self.kind, task)
        base = build_objective(self.base, task, bounds, train_labels)
        bins = LabelBins.fit(train_labels.numpy(), self.bins)
        smoother = FeatureSmoother(self.bins, gaussian_window(self.kernel_size, self.sigma), self.momentum,
                                   len(train_labels))

        def loss(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            label_bins = bins.index(y)

            def transform(z: torch.Tensor) -> torch.Tensor | None:
                if not torch.is_grad_enabled() or z.shape[0] != len(y):  # inner attacks, evaluation passes
                    return None
                calibrated = smoother.calibrate(z, label_bins)
                smoother.observe(z, label_bins)
                return calibrated

            with head_transform(model, transform):
                return base(model, x, y)

        return loss
