"""A grid of clean inputs (top row) and each attack's adversarial versions (one row per attack)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _as_image(x: np.ndarray) -> np.ndarray:
    """(C, H, W) → (H, W) or (H, W, 3); a feature vector becomes a one-row strip."""
    if x.ndim == 3:
        return x[0] if x.shape[0] == 1 else x.transpose(1, 2, 0)
    return x.reshape(1, -1)


def plot_examples(arrays: dict[str, np.ndarray], labels: list[str], shown: int) -> "plt.Figure":
    shown = min(shown, len(arrays["y"]))
    rows = [("clean", arrays["x"], arrays["clean_prediction"])]
    rows += [(label, arrays[f"{i}.x_adv"], arrays[f"{i}.prediction"]) for i, label in enumerate(labels)]
    fig, axes = plt.subplots(len(rows), shown, figsize=(1.3 * shown, 1.5 * len(rows)), squeeze=False)
    for r, (label, images, predictions) in enumerate(rows):
        for c in range(shown):
            ax = axes[r, c]
            ax.imshow(np.clip(_as_image(images[c]), 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"pred {predictions[c]}", fontsize=7)
        axes[r, 0].set_ylabel(label, fontsize=6)
    fig.tight_layout()
    plt.close(fig)
    return fig
