"""Fine-tuning a trained classifier on ID data plus a stream of wild batches, through the project's training loop
(:func:`spotlab.tasks.train.loop.fit`): every step takes one ID batch from ``fit`` and draws one wild batch of the
same size from :class:`WildBatches`; objectives see both."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from pydantic import Field
from torch import nn

from spotlab.models.config import ConfigModel
from spotlab.tasks.ood.wild import WildData
from spotlab.tasks.train.loop import EpochMetrics, fit
from spotlab.tasks.train.optimizers import OptimizerConfig, SGDConfig
from spotlab.tasks.train.schedules import MultiStepScheduleConfig, ScheduleConfig, build_scheduler

WildObjective = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class FineTuneConfig(ConfigModel):
    """The paper's fine-tuning recipe (SGD Nesterov, lr 1e-3, wd 5e-4, ×0.5 at 50/75/90 %), fewer epochs."""

    epochs: int = Field(10, ge=1, description="Passes over the ID training split (paper: 100).")
    batch_size: int = Field(128, ge=1, description="ID examples per step; each step also takes as many wild ones.")
    optimizer: OptimizerConfig = Field(
        default_factory=lambda: SGDConfig(lr=1e-3, momentum=0.9, weight_decay=5e-4, nesterov=True),
        description="Optimizer of the network (and of WOODS's logistic head).",
    )
    schedule: ScheduleConfig = Field(
        default_factory=lambda: MultiStepScheduleConfig(milestones=[0.5, 0.75, 0.9], gamma=0.5),
        description="LR schedule over the fine-tuning epochs.",
    )


@dataclass
class FineTuneResult:
    model: nn.Module
    history: list[dict] = field(default_factory=list)  # per epoch: loop metrics and the method's own state
    summary: dict = field(default_factory=dict)  # the method's end state (e.g. WOODS's constraints)


class WildBatches:
    """Endless batches of the wild set, reshuffled on every pass by a generator seeded from ``seed``."""

    def __init__(self, x_wild: torch.Tensor, batch_size: int, seed: int):
        self.x_wild, self.batch_size = x_wild, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.order, self.position = torch.randperm(len(x_wild), generator=self.generator), 0

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > len(self.order):
            self.order, self.position = torch.randperm(len(self.x_wild), generator=self.generator), 0
        index = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return self.x_wild[index]


def fine_tune(
    model: nn.Module,
    objective: WildObjective,
    data: WildData,
    cfg: FineTuneConfig,
    seed: int,
    extra_parameters: Iterable[nn.Parameter] = (),
    on_epoch_end: Callable[[int], dict] | None = None,
) -> list[dict]:
    """Train ``model`` (and ``extra_parameters``) with ``objective(model, x_in, y_in, x_wild)``; returns per-epoch
    loop metrics merged with what ``on_epoch_end(epoch)`` reports."""
    optimizer = cfg.optimizer.build([*model.parameters(), *extra_parameters])
    wild = WildBatches(data.x_wild, min(cfg.batch_size, len(data.x_wild)), seed)
    states: list[dict] = []

    def step_objective(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return objective(net, x, y, wild.next().to(x.device))

    def after_epoch(epoch: int, history: list[EpochMetrics]) -> None:
        states.append(on_epoch_end(epoch) if on_epoch_end else {})

    history = fit(
        model, optimizer, build_scheduler(cfg.schedule, optimizer, cfg.epochs), step_objective,
        (data.x_in, data.y_in), (data.x_in[:0], data.y_in[:0]),
        task="classification", epochs=cfg.epochs, batch_size=cfg.batch_size, seed=seed, on_epoch_end=after_epoch,
    )
    return [{"epoch": m.epoch, "lr": m.lr, "train_loss": m.train_loss, "train_accuracy": m.train_accuracy,
             **state} for m, state in zip(history, states)]
