"""Training and scoring inside pruning (IMP levels, PAC-Net's allocate/calibrate) on prepared splits.

Training reuses the train family's loop; masks stay applied because they are weight parametrizations (see
tasks/prune/masks.py), so no step needs to re-apply them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from pydantic import Field
from torch import nn

from spotlab.models.config import ConfigModel
from spotlab.tasks.data.datasets import DatasetInfo, Splits
from spotlab.tasks.train.loop import EpochMetrics, evaluate_split, fit
from spotlab.tasks.train.objectives import Objective, task_loss
from spotlab.tasks.train.optimizers import OptimizerConfig, SGDConfig
from spotlab.tasks.train.schedules import CosineScheduleConfig, ScheduleConfig, build_scheduler


class RetrainConfig(ConfigModel):
    """How a network is (re)trained inside pruning: every IMP level, PAC-Net's allocate and calibrate."""

    optimizer: OptimizerConfig = Field(default_factory=SGDConfig, description="Optimizer (by kind).")
    schedule: ScheduleConfig = Field(default_factory=CosineScheduleConfig, description="LR schedule (by kind).")
    epochs: int = Field(20, ge=1, description="Passes over the training split per training run.")
    batch_size: int = Field(64, ge=1, description="Examples per step.")


@dataclass(frozen=True)
class PruneData:
    """The prepared data pruning trains and scores on, with the input-noise level of the robustness score."""

    splits: Splits
    info: DatasetInfo
    noise_std: float = 0.1

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.as_tensor(getattr(self.splits, f"x_{split}")), torch.as_tensor(getattr(self.splits, f"y_{split}"))

    def train(
        self,
        model: nn.Module,
        training: RetrainConfig,
        seed: int,
        penalty: Callable[[nn.Module], torch.Tensor] | None = None,
        on_epoch_end: Callable[[int, list[EpochMetrics]], None] | None = None,
    ) -> list[EpochMetrics]:
        """Train the parameters of ``model`` that require grad; ``penalty(model)`` is added to the task loss."""
        loss = task_loss(self.info.task)
        objective: Objective = (
            (lambda m, x, y: loss(m(x), y)) if penalty is None else (lambda m, x, y: loss(m(x), y) + penalty(m))
        )
        optimizer = training.optimizer.build([(n, p) for n, p in model.named_parameters() if p.requires_grad])
        return fit(
            model,
            optimizer,
            build_scheduler(training.schedule, optimizer, training.epochs),
            objective,
            self.tensors("train"),
            self.tensors("val"),
            task=self.info.task,
            epochs=training.epochs,
            batch_size=training.batch_size,
            seed=seed,
            on_epoch_end=on_epoch_end,
        )

    def score(self, model: nn.Module, seed: int = 0) -> dict[str, float]:
        """Test accuracy (classification) or MSE (regression), clean and under Gaussian input noise."""
        x, y = self.tensors("test")
        generator = torch.Generator().manual_seed(seed)
        noisy = x + self.noise_std * torch.randn(x.shape, generator=generator)
        if self.info.bounds is not None:
            noisy = noisy.clamp(*self.info.bounds)
        clean_loss, clean_accuracy = evaluate_split(model, x, y, self.info.task)
        noisy_loss, noisy_accuracy = evaluate_split(model, noisy, y, self.info.task)
        if self.info.task == "classification":
            return {"accuracy": clean_accuracy, "noisy_accuracy": noisy_accuracy}
        return {"mse": clean_loss, "noisy_mse": noisy_loss}
