"""Baselines of the WOODS comparison: the energy score of the classifier as it is, and outlier exposure (Hendrycks
et al.) that treats every wild example as OOD, pushing its softmax towards uniform."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from spotlab.models.config import ConfigModel
from spotlab.tasks.ood.finetune import FineTuneConfig, FineTuneResult, fine_tune
from spotlab.tasks.ood.wild import WildData


class EnergyConfig(ConfigModel):
    """No training: score the given classifier by its energy (Liu et al., 2020)."""

    kind: Literal["energy"] = "energy"

    def fine_tune(self, model: nn.Module, data: WildData, cfg: FineTuneConfig, seed: int) -> FineTuneResult:
        return FineTuneResult(model.eval())


def uniform_cross_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy from the uniform distribution to softmax(logits): −mean_k log p_k."""
    return -F.log_softmax(logits, dim=1).mean(dim=1).mean()


class OutlierExposureConfig(ConfigModel):
    """CE on ID + weight · cross-entropy to uniform on the wild batch (all of it taken as OOD)."""

    kind: Literal["outlier-exposure"] = "outlier-exposure"
    weight: float = Field(0.5, gt=0, description="Weight of the outlier term (Hendrycks et al.: 0.5).")

    def fine_tune(self, model: nn.Module, data: WildData, cfg: FineTuneConfig, seed: int) -> FineTuneResult:
        torch.manual_seed(seed)

        def objective(net: nn.Module, x: torch.Tensor, y: torch.Tensor, x_wild: torch.Tensor) -> torch.Tensor:
            logits = net(torch.cat([x, x_wild]))
            return F.cross_entropy(logits[: len(x)], y) + self.weight * uniform_cross_entropy(logits[len(x):])

        history = fine_tune(model, objective, data, cfg, seed)
        return FineTuneResult(model.eval(), history)
