"""Optimizer configs (registry keyed by ``kind``); each builds a ``torch.optim.Optimizer`` over given parameters."""

from __future__ import annotations

from typing import Annotated, Iterable, Literal, Union

import torch
from pydantic import Field

from spotlab.models.config import ConfigModel


class SGDConfig(ConfigModel):
    kind: Literal["sgd"] = "sgd"
    lr: float = Field(0.1, gt=0, description="Learning rate.")
    momentum: float = Field(0.9, ge=0, lt=1, description="Heavy-ball momentum.")
    weight_decay: float = Field(5e-4, ge=0, description="L2 penalty added to the gradient.")
    nesterov: bool = Field(False, description="Nesterov momentum.")

    def build(self, params: Iterable) -> torch.optim.Optimizer:
        return torch.optim.SGD(
            params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay, nesterov=self.nesterov
        )


class AdamConfig(ConfigModel):
    kind: Literal["adam"] = "adam"
    lr: float = Field(1e-3, gt=0, description="Learning rate.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Moment decay rates.")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty added to the gradient.")

    def build(self, params: Iterable) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)


from spotlab.tasks.train.sam import SAM_FAMILY  # noqa: E402 - the SAM family wraps the base optimizers above

OPTIMIZERS = {cfg.model_fields["kind"].default: cfg for cfg in (SGDConfig, AdamConfig, *SAM_FAMILY)}

OptimizerConfig = Annotated[Union[tuple(OPTIMIZERS.values())], Field(discriminator="kind")]
