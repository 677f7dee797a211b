"""Reliability diagram: accuracy against confidence per bin, one curve per method."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from spotlab.tasks.evaluate.metrics import calibration_bins  # noqa: E402


def plot_reliability(probs: dict[str, np.ndarray], labels: np.ndarray, bins: int) -> "plt.Figure":
    """``probs``: method name → (n, K) calibrated test probabilities of the same examples ``labels``."""
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="perfect calibration")
    for name, p in probs.items():
        points = calibration_bins(p, labels, bins)
        ax.plot([c for _, _, c in points], [a for _, a, _ in points], marker="o", markersize=3, label=name)
    ax.set(xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title="Reliability (test, calibrated)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    plt.close(fig)
    return fig
