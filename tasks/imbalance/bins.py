"""Label bins of imbalanced regression: which bin a label falls in, per-bin training counts, the Gaussian smoothing
window LDS and FDS share, and the many/medium/few-shot regions the metrics report.

Bins are ``bins`` equal-width intervals centred on evenly spaced points from the smallest to the largest training
label, so integer labels 0..K−1 with ``bins = K`` give one bin per integer (the papers' per-label counts).

Shot regions (Yang et al. 2021, used by RankSim): AgeDB-DIR calls a label many-shot with more than 100 training
images and few-shot with fewer than 20, for 12,208 training images over 102 ages (≈ 119.7 per age). To carry the
thresholds to data of another size we keep their ratio to the mean count per bin: many-shot > 0.835·(n/bins),
few-shot < 0.167·(n/bins), medium-shot in between (bins without training labels count as few-shot).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import convolve1d, gaussian_filter1d

AGEDB_MEAN_PER_LABEL = 12_208 / 102
MANY_SHOT = 100 / AGEDB_MEAN_PER_LABEL
FEW_SHOT = 20 / AGEDB_MEAN_PER_LABEL
REGIONS = ("many", "medium", "few")


@dataclass(frozen=True)
class LabelBins:
    low: float  # centre of the first bin (smallest training label)
    width: float
    count: int

    @classmethod
    def fit(cls, train_labels, bins: int) -> LabelBins:
        labels = np.asarray(train_labels, dtype=np.float64)
        low, high = float(labels.min()), float(labels.max())
        width = (high - low) / (bins - 1) if bins > 1 and high > low else 1.0
        return cls(low=low, width=width, count=bins)

    def index(self, labels):
        """Bin of each label (numpy or torch), labels outside the training range going to the edge bins."""
        if isinstance(labels, torch.Tensor):
            return torch.round((labels.double() - self.low) / self.width).long().clamp(0, self.count - 1)
        return np.clip(np.round((np.asarray(labels, dtype=np.float64) - self.low) / self.width), 0,
                       self.count - 1).astype(np.int64)

    def histogram(self, labels) -> np.ndarray:
        return np.bincount(self.index(labels), minlength=self.count)

    def regions(self, train_labels) -> np.ndarray:
        """Region name of every bin from its training count (see module docstring for the thresholds)."""
        counts = self.histogram(train_labels)
        mean = len(np.asarray(train_labels)) / self.count
        return np.where(counts > MANY_SHOT * mean, "many", np.where(counts < FEW_SHOT * mean, "few", "medium"))


def gaussian_window(kernel_size: int, sigma: float) -> np.ndarray:
    """Yang et al.'s LDS/FDS window: a Gaussian of width ``sigma`` over ``kernel_size`` taps, peak 1."""
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size={kernel_size} must be odd (a window centred on the label)")
    impulse = np.zeros(kernel_size)
    impulse[kernel_size // 2] = 1.0
    window = gaussian_filter1d(impulse, sigma=sigma)
    return window / window.max()


def smooth(values: np.ndarray, window: np.ndarray, beyond: str = "constant") -> np.ndarray:
    """``values`` (per bin, along the first axis) convolved with ``window``; beyond the label range they are zero
    (``constant``, LDS) or mirrored (``reflect``, FDS)."""
    return convolve1d(np.asarray(values, dtype=np.float64), window, axis=0, mode=beyond)
