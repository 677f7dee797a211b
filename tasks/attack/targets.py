"""Target classes for targeted attacks: seeded random offsets or the clean input's strongest wrong classes."""

from __future__ import annotations

import torch


def random_targets(y: torch.Tensor, num_classes: int, count: int, generator: torch.Generator) -> list[torch.Tensor]:
    """``count`` target vectors (y + o) mod C with offsets o drawn uniformly from 1..C−1 (never the true class)."""
    if num_classes < 2:
        raise ValueError(f"targeted attacks need at least 2 classes, the model has {num_classes}")
    return [
        (y + torch.randint(1, num_classes, y.shape, generator=generator, device=y.device)) % num_classes
        for _ in range(count)
    ]


def top_k_targets(logits: torch.Tensor, y: torch.Tensor, count: int) -> list[torch.Tensor]:
    """The ``count`` highest-scoring classes other than y, strongest first (APGD-T's choice of targets)."""
    if count > logits.shape[1] - 1:
        raise ValueError(f"n_targets={count} exceeds the {logits.shape[1] - 1} classes other than the true one")
    others = logits.scatter(1, y[:, None], float("-inf"))
    ranked = others.topk(count, dim=1).indices
    return list(ranked.T)
