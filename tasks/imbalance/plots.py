"""Test MAE per label region as grouped bars (Agg backend: no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from spotlab.tasks.imbalance.bins import REGIONS  # noqa: E402


def plot_mae_by_region(scores: dict[tuple[str, str], list[dict]]) -> plt.Figure:
    """One panel per dataset; per method (hatched: +RankSim) mean ± std over seeds of MAE overall and per region."""
    datasets = list(dict.fromkeys(d for d, _ in scores))
    regions = ("all", *REGIONS)
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        methods = [m for d, m in scores if d == dataset]
        width = 0.8 / len(methods)
        for j, method in enumerate(methods):
            rows = scores[(dataset, method)]
            key = lambda r: "mae" if r == "all" else f"{r}.mae"  # noqa: E731
            values = [[row[key(r)] for row in rows if key(r) in row] for r in regions]
            ax.bar(np.arange(len(regions)) + j * width, [np.mean(v) if v else np.nan for v in values], width,
                   yerr=[np.std(v) if v else 0 for v in values], label=method, capsize=2,
                   hatch="//" if method.endswith("+ranksim") else None)
        ax.set_xticks(np.arange(len(regions)) + 0.4 - width / 2, regions)
        ax.set(title=dataset, ylabel="test MAE")
    axes[0][-1].legend(fontsize=7, ncols=2)
    fig.tight_layout()
    plt.close(fig)
    return fig
