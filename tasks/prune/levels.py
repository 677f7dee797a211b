"""Running a pruning strategy level by level: score each level's network and analyse its masks' spectra; tables
and the Δr-vs-sparsity plot of the results."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torch import nn  # noqa: E402

from spotlab.tasks.prune.masks import Masks, bake, current_masks, sparsity_report  # noqa: E402
from spotlab.tasks.prune.spectra import LayerSpectrum, layer_spectrum  # noqa: E402
from spotlab.tasks.prune.training import PruneData  # noqa: E402


@dataclass
class LevelResult:
    level: int
    sparsity: float  # over the masked layers
    metrics: dict[str, float]
    spectra: list[LayerSpectrum]
    masks: Masks


def analyse_layers(model: nn.Module, masks: Masks) -> list[LayerSpectrum]:
    """Spectra of every masked layer that still has an edge."""
    modules = dict(model.named_modules())
    spectra = [
        layer_spectrum(name, mask.numpy(), modules[name].weight.detach().numpy()) for name, mask in masks.items()
    ]
    return [s for s in spectra if s is not None]


def run_levels(method, model: nn.Module, data: PruneData, seed: int) -> tuple[list[LevelResult], nn.Module]:
    """Every level's scores and spectra, and the last level's network as a plain module (masks baked in)."""
    results, last = [], None
    for level, pruned in enumerate(method.prune(model, data, seed)):
        masks = current_masks(pruned)
        results.append(
            LevelResult(
                level=level,
                sparsity=sparsity_report(masks)["sparsity"],
                metrics=data.score(pruned, seed),
                spectra=analyse_layers(pruned, masks),
                masks=masks,
            )
        )
        last = pruned
    return results, bake(last)


def level_rows(results: list[LevelResult], **labels: Any) -> list[dict[str, Any]]:
    """One row per level: labels, sparsity, scores and Δr of each layer (None where skipped: d̄ < 3)."""
    return [
        {**labels, "level": r.level, "sparsity": round(r.sparsity, 4), **r.metrics,
         **{f"dr[{s.layer}]": s.delta_r for s in r.spectra}}
        for r in results
    ]


def spectra_rows(results: list[LevelResult], **labels: Any) -> list[dict[str, Any]]:
    """One row per level and layer with every spectral quantity."""
    return [{**labels, "level": r.level, "sparsity": r.sparsity, **asdict(s)} for r in results for s in r.spectra]


def plot_levels(runs: dict[str, list[LevelResult]], metric: str) -> plt.Figure:
    """Per run: Δr of each layer (left axis) and ``metric`` (right axis) against sparsity."""
    fig, axes = plt.subplots(1, len(runs), figsize=(4.6 * len(runs), 3.6), squeeze=False)
    values = [r.metrics[metric] for results in runs.values() for r in results]
    pad = 0.05 * (max(values) - min(values)) or 0.01
    limits = (min(values) - pad, max(values) + pad)  # one scale for every panel, so runs compare at a glance
    for ax, (label, results) in zip(axes[0], runs.items()):
        layers = list(dict.fromkeys(s.layer for r in results for s in r.spectra))
        for layer in layers:
            points = [(r.sparsity, s.delta_r) for r in results for s in r.spectra
                      if s.layer == layer and s.delta_r is not None]
            if points:
                ax.plot(*zip(*points), marker="o", label=f"Δr {layer}")
        ax.axhline(0, color="grey", lw=0.8, ls=":")
        ax.set(xlabel="sparsity", ylabel="Δr", title=label)
        twin = ax.twinx()
        twin.plot([r.sparsity for r in results], [r.metrics[metric] for r in results], "k--", label=metric)
        twin.set(ylabel=f"{metric} (dashed)", ylim=limits)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    plt.close(fig)
    return fig
