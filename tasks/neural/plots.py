"""s̃ against ε: each student's readout and its transfer to the brain, between the brain's random and white-box
bounds."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_sensitivity_curves(table: list[dict], group: str = "student") -> "plt.Figure":
    """Means over the rows sharing (group, ε) — over seeds in the study — of each measured s̃."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    eps = sorted({row["eps"] for row in table})

    def curve(rows: list[dict], key: str) -> list[float]:
        return [float(np.mean([r[key] for r in rows if r["eps"] == e])) for e in eps]

    for name in dict.fromkeys(row[group] for row in table):
        rows = [row for row in table if row[group] == name]
        line = ax.plot(eps, curve(rows, "readout"), "o-", label=f"{name}: readout")[0]
        ax.plot(eps, curve(rows, "transfer"), "s--", color=line.get_color(), label=f"{name}: transfer to brain")
    ax.plot(eps, curve(table, "white_box"), "k^:", label="brain white-box (upper)")
    ax.plot(eps, curve(table, "random"), "kv:", label="brain random directions (lower)")
    ax.set_xlabel("L2 radius ε")
    ax.set_ylabel("normalised sensitivity s̃ (mean over sites)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
