"""Training curves as a matplotlib figure (Agg backend: no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_curves(history) -> "plt.Figure":
    epochs = [m.epoch for m in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax_loss.plot(epochs, [m.train_loss for m in history], label="train")
    if history[0].val_loss is not None:
        ax_loss.plot(epochs, [m.val_loss for m in history], label="val")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_loss.legend()
    if history[0].train_accuracy is not None:
        ax_acc.plot(epochs, [m.train_accuracy for m in history], label="train")
        if history[0].val_accuracy is not None:
            ax_acc.plot(epochs, [m.val_accuracy for m in history], label="val")
        ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
        ax_acc.legend()
    else:
        ax_acc.axis("off")
    fig.tight_layout()
    plt.close(fig)
    return fig
