"""Learning-rate schedules, stepped once per epoch."""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

import torch
from pydantic import Field

from spotlab.models.config import ConfigModel


class ConstantScheduleConfig(ConfigModel):
    kind: Literal["constant"] = "constant"

    def factor(self, epoch: int, epochs: int) -> float:
        return 1.0


class MultiStepScheduleConfig(ConfigModel):
    kind: Literal["multistep"] = "multistep"
    milestones: list[float] = Field(
        [0.5, 0.75], description="Fractions of training (0–1) after which the rate is multiplied by gamma."
    )
    gamma: float = Field(0.1, gt=0, le=1, description="Decay factor at each milestone.")

    def factor(self, epoch: int, epochs: int) -> float:
        passed = sum(epoch >= round(m * epochs) for m in self.milestones)
        return self.gamma**passed


class CosineScheduleConfig(ConfigModel):
    kind: Literal["cosine"] = "cosine"
    min_factor: float = Field(0.0, ge=0, le=1, description="Final rate as a fraction of the initial one.")

    def factor(self, epoch: int, epochs: int) -> float:
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


SCHEDULES = {
    cfg.model_fields["kind"].default: cfg
    for cfg in (ConstantScheduleConfig, MultiStepScheduleConfig, CosineScheduleConfig)
}

ScheduleConfig = Annotated[Union[tuple(SCHEDULES.values())], Field(discriminator="kind")]


def build_scheduler(config, optimizer: torch.optim.Optimizer, epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: config.factor(epoch, epochs))
