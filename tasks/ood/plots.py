"""Histograms of OOD scores, ID against OOD, one panel per method."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_score_histograms(scores: dict[str, tuple[np.ndarray, np.ndarray]], bins: int = 40) -> "plt.Figure":
    """``scores``: method → (ID scores, OOD scores); shared bin edges within each panel."""
    fig, axes = plt.subplots(1, len(scores), figsize=(3.4 * len(scores), 2.8), squeeze=False)
    for ax, (name, (id_scores, ood_scores)) in zip(axes[0], scores.items()):
        edges = np.histogram_bin_edges(np.r_[id_scores, ood_scores], bins=bins)
        ax.hist(id_scores, bins=edges, alpha=0.6, density=True, label="ID")
        ax.hist(ood_scores, bins=edges, alpha=0.6, density=True, label="OOD")
        ax.set(title=name, xlabel="logsumexp f(x)  (−energy)", ylabel="density")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    plt.close(fig)
    return fig
