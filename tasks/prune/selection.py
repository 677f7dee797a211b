"""Choosing which surviving weights to prune: the lowest-scoring fraction, over all layers or within each layer.

Scores are |w| for magnitude pruning and uniform noise for random pruning; the same rule serves both, one shot
or per IMP level (where the fraction is of the weights that survived the previous level).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from spotlab.tasks.prune.masks import Masks

Scope = Literal["global", "layer"]


def _prune_lowest_flat(scores: torch.Tensor, keep: torch.Tensor, fraction: float) -> torch.Tensor:
    count = round(fraction * int(keep.sum()))
    # Already-pruned entries score +inf so that they are never chosen again.
    ranked = torch.where(keep, scores, torch.full_like(scores, float("inf")))
    chosen = torch.topk(ranked, count, largest=False).indices
    keep = keep.clone()
    keep[chosen] = False
    return keep


def prune_lowest(scores: dict[str, torch.Tensor], masks: Masks, fraction: float, scope: Scope) -> Masks:
    """New masks with ``fraction`` of each scope's surviving weights removed, lowest scores first."""
    if not 0 <= fraction < 1:
        raise ValueError(f"pruning fraction must be in [0, 1), got {fraction}")
    if scope == "layer":
        return {
            name: _prune_lowest_flat(scores[name].flatten(), mask.flatten(), fraction).reshape(mask.shape)
            for name, mask in masks.items()
        }
    names = list(masks)
    flat = _prune_lowest_flat(
        torch.cat([scores[n].flatten() for n in names]), torch.cat([masks[n].flatten() for n in names]), fraction
    )
    pieces = flat.split([masks[n].numel() for n in names])
    return {n: piece.reshape(masks[n].shape) for n, piece in zip(names, pieces)}


def magnitude_scores(model: nn.Module, masks: Masks) -> dict[str, torch.Tensor]:
    """|w| of the (masked) weights of the layers named in ``masks``."""
    modules = dict(model.named_modules())
    return {name: modules[name].weight.detach().abs() for name in masks}


def random_scores(masks: Masks, generator: torch.Generator) -> dict[str, torch.Tensor]:
    return {name: torch.rand(mask.shape, generator=generator) for name, mask in masks.items()}
