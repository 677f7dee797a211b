"""Attack figures: clean vs adversarial examples, and success against the radius."""

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


def plot_success_vs_eps(table: list[dict], attacks: tuple[str, ...]) -> "plt.Figure":
    """Targeted success against eps, one panel per (model, training) group of the CGD comparison table."""
    groups = list(dict.fromkeys((r["model"], r["training"]) for r in table))
    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups), 3), squeeze=False)
    for ax, (model, training) in zip(axes[0], groups):
        rows = [r for r in table if (r["model"], r["training"]) == (model, training)]
        for name in attacks:
            ax.plot([r["eps"] for r in rows], [r[f"success_{name}"] for r in rows], marker="o", label=name)
        ax.set(title=f"{model} ({training})", xlabel="eps", ylabel="targeted success")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    plt.close(fig)
    return fig
