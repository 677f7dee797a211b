"""The train stage's config: model × optimizer × schedule × objective, each chosen by ``kind``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from spotlab.models.config import ConfigModel
from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import ModelConfig
from spotlab.tasks.distributed.config import DistributedConfig, check_optimizer
from spotlab.tasks.train.objectives import ERMConfig, ObjectiveConfig
from spotlab.tasks.train.optimizers import OptimizerConfig, SGDConfig
from spotlab.tasks.train.schedules import CosineScheduleConfig, ScheduleConfig


class TrainConfig(ConfigModel):
    model: ModelConfig = Field(default_factory=MLPConfig, description="Network architecture (by kind).")
    optimizer: OptimizerConfig = Field(default_factory=SGDConfig, description="Optimizer (by kind).")
    schedule: ScheduleConfig = Field(default_factory=CosineScheduleConfig, description="LR schedule (by kind).")
    objective: ObjectiveConfig = Field(default_factory=ERMConfig, description="Training loss (by kind).")
    epochs: int = Field(20, ge=1, description="Passes over the training split.")
    batch_size: int = Field(64, ge=1, description="Examples per step (global batch).")
    checkpoint_every: int = Field(5, ge=1, description="Save a resumable checkpoint every this many epochs.")
    distributed: DistributedConfig = Field(
        default_factory=DistributedConfig, description="Data-parallel workers, backend, compressor, error feedback."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where to train; auto picks CUDA when present.", json_schema_extra={"identity": False}
    )

    @model_validator(mode="after")
    def _distributed_optimizer(self) -> TrainConfig:
        check_optimizer(self.distributed, self.optimizer)
        return self
