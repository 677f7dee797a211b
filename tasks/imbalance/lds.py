"""Label-distribution smoothing (Yang et al., "Delving into deep imbalanced regression", ICML 2021) and the plain
inverse-frequency re-weighting it smooths, as a re-weighted regression loss (objective ``lds``).

Per label bin b with training count c_b: SQINV uses √c_b, INV uses clip(c_b, 5, 1000); LDS convolves these with the
Gaussian window (``smooth: true``); each training sample's weight is 1 / (its bin's value), rescaled so that the
weights of the N training samples sum to N. The loss is the weight-averaged squared (or absolute) error.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.imbalance.bins import LabelBins, gaussian_window, smooth
from spotlab.tasks.imbalance.composition import require_regression


def effective_counts(counts: np.ndarray, weighting: str, window: np.ndarray | None) -> np.ndarray:
    """Per-bin value whose inverse is the weight: √count (sqinv) or clip(count, 5, 1000) (inv), smoothed by
    ``window`` when given (LDS)."""
    counts = np.asarray(counts, dtype=np.float64)
    values = np.sqrt(counts) if weighting == "sqinv" else np.clip(counts, 5, 1000)
    return values if window is None else smooth(values, window)


def sample_weights(train_bins: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-bin weight 1 / value, scaled so the training samples' weights (``train_bins``: their bins) sum to N."""
    inverse = 1.0 / values[train_bins]
    scale = len(train_bins) / inverse.sum()
    with np.errstate(divide="ignore"):
        return np.where(values > 0, scale / values, 0.0)  # bins no training label reaches are never weighted


class LDSConfig(ConfigModel):
    """Re-weighted regression loss: SQINV / INV inverse-frequency weights, optionally label-distribution smoothed."""

    kind: Literal["lds"] = "lds"
    weighting: Literal["sqinv", "inv"] = Field("sqinv", description="√count (sqinv) or clip(count, 5, 1000) (inv).")
    smooth: bool = Field(True, description="Convolve the per-bin values with the Gaussian window (LDS); false "
                                           "gives plain SQINV/INV re-weighting.")
    kernel_size: int = Field(5, ge=1, description="Taps of the Gaussian window (odd).")
    sigma: float = Field(2.0, gt=0, description="Width of the Gaussian window, in bins.")
    bins: int = Field(100, ge=2, description="Equal-width label bins over the training label range.")
    loss: Literal["mse", "l1"] = Field("mse", description="Per-sample error that the weights multiply.")

    needs_labels: ClassVar[bool] = True

    def bin_weights(self, train_labels) -> tuple[LabelBins, np.ndarray]:
        bins = LabelBins.fit(train_labels, self.bins)
        window = gaussian_window(self.kernel_size, self.sigma) if self.smooth else None
        values = effective_counts(bins.histogram(train_labels), self.weighting, window)
        return bins, sample_weights(bins.index(train_labels), values)

    def build(self, task: str, bounds, train_labels: torch.Tensor):
        require_regression(self.kind, task)
        bins, weights = self.bin_weights(train_labels.numpy())
        per_bin = torch.as_tensor(weights, dtype=torch.float32)
        error = (lambda d: d.square()) if self.loss == "mse" else torch.abs

        def loss(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            w = per_bin.to(y.device)[bins.index(y)]
            return (w * error(model(x).squeeze(-1) - y)).mean()

        return loss
