"""What lets the imbalanced-regression objectives wrap any other objective: building an objective that may need the
training labels, and reaching the features a model feeds its regression head.

Objectives whose build needs the training labels (LDS weights, FDS and RankSim bins) say so with
``needs_labels = True`` and take them as a third argument; every other objective keeps ``build(task, bounds)``.
The features are the input of the model's last ``nn.Linear`` (the head), reached through forward hooks, so any
model of the registry works and the objective being wrapped runs unchanged.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def build_objective(config, task: str, bounds: tuple[float, float] | None, train_labels: torch.Tensor) -> Objective:
    if getattr(config, "needs_labels", False):
        return config.build(task, bounds, train_labels)
    return config.build(task, bounds)


def require_regression(kind: str, task: str) -> None:
    if task != "regression":
        raise ValueError(f"objective {kind!r} needs a regression dataset (e.g. synthetic-regression, diabetes); "
                         f"the data is {task}")


def regression_head(model: nn.Module) -> nn.Linear:
    heads = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not heads:
        raise ValueError(f"{type(model).__name__} has no nn.Linear head whose input could serve as features")
    return heads[-1]


@contextmanager
def head_features(model: nn.Module, batch: int) -> Iterator[list[torch.Tensor]]:
    """Collects the head's input of every forward on a ``batch``-sized input with gradients on, while open."""
    seen: list[torch.Tensor] = []

    def keep(module, inputs, output):
        if torch.is_grad_enabled() and inputs[0].shape[0] == batch:
            seen.append(inputs[0])

    handle = regression_head(model).register_forward_hook(keep)
    try:
        yield seen
    finally:
        handle.remove()


@contextmanager
def head_transform(model: nn.Module, transform: Callable[[torch.Tensor], torch.Tensor | None]) -> Iterator[None]:
    """Replaces the head's input ``z`` by ``transform(z)`` (unchanged where it returns None), while open."""

    def replace(module, inputs):
        changed = transform(inputs[0])
        return None if changed is None else (changed, *inputs[1:])

    handle = regression_head(model).register_forward_pre_hook(replace)
    try:
        yield
    finally:
        handle.remove()
