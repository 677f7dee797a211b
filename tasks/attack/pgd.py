"""Projected gradient ascent with a random start and a fixed step (Madry et al.)."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.attack.base import AttackSettings, Batch
from spotlab.tasks.attack.threat import project, random_start, steepest_direction


class PGDConfig(AttackSettings):
    kind: Literal["pgd"] = "pgd"
    step: float | None = Field(
        None, gt=0, description="Step length in input units; null: 2.5·eps/steps (Madry et al.'s rule)."
    )
    random_start: bool = Field(True, description="Start from a uniform point of the ball instead of the input.")

    def attack_batch(self, batch: Batch, generator: torch.Generator) -> None:
        step = self.step if self.step is not None else 2.5 * self.eps / self.steps
        x_iter = random_start(batch.x, self.eps, self.norm, batch.bounds, generator) if self.random_start else batch.x
        for i in range(self.steps + 1):
            _, logits, grad = batch.objective_and_grad(x_iter)
            keep = batch.keep(x_iter, i, logits)
            x_iter, grad = x_iter[keep], grad[keep]
            if not len(batch) or i == self.steps:
                break
            x_iter = project(x_iter + step * steepest_direction(grad, self.norm), batch.x, self.eps, self.norm,
                             batch.bounds)
        batch.finish(batch.candidate(x_iter))
