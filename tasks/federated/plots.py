"""Accuracy against rounds and against cumulative upload bytes (Agg backend: no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_accuracy(curves: dict[str, list[dict]], title: str = "", target: float | None = None) -> "plt.Figure":
    """``curves``: label → per-round rows with round, test_accuracy (and its spread test_accuracy_std when
    averaged over seeds) and cumulative_upload_bytes."""
    fig, (ax_rounds, ax_bytes) = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, rows in curves.items():
        rounds = np.array([r["round"] for r in rows])
        accuracy = np.array([r["test_accuracy"] for r in rows])
        sent = np.array([r["cumulative_upload_bytes"] for r in rows], dtype=float)
        (line,) = ax_rounds.plot(rounds, accuracy, label=label)
        if "test_accuracy_std" in rows[0]:
            spread = np.array([r["test_accuracy_std"] for r in rows])
            ax_rounds.fill_between(rounds, accuracy - spread, accuracy + spread, color=line.get_color(), alpha=0.2)
        ax_bytes.plot(sent[1:], accuracy[1:], label=label, color=line.get_color(), marker=".")
    for ax in (ax_rounds, ax_bytes):
        if target is not None:
            ax.axhline(target, color="grey", linestyle=":", linewidth=1)
        ax.set_ylabel("test accuracy")
    ax_rounds.set(xlabel="round", title=title or "accuracy vs rounds")
    ax_bytes.set(xlabel="cumulative upload (bytes)", xscale="log", title="accuracy vs upload")
    ax_rounds.legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig
