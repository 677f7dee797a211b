"""The prune stage's config: which pruning strategy (by ``kind``) and the input noise of the robustness score."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.prune.pacnet import PACNetConfig
from spotlab.tasks.prune.pruners import (
    GlobalMagnitudeConfig,
    IMPConfig,
    LayerMagnitudeConfig,
    RamanujanIMPConfig,
    RandomConfig,
)

PRUNERS = {
    cfg.model_fields["kind"].default: cfg
    for cfg in (GlobalMagnitudeConfig, LayerMagnitudeConfig, RandomConfig, IMPConfig, RamanujanIMPConfig, PACNetConfig)
}

PrunerConfig = Annotated[Union[tuple(PRUNERS.values())], Field(discriminator="kind")]


class PruneStageConfig(ConfigModel):
    method: PrunerConfig = Field(default_factory=GlobalMagnitudeConfig, description="Pruning strategy (by kind).")
    noise_std: float = Field(
        0.1, ge=0, description="Std of the Gaussian input noise of the robustness score (inputs clipped to bounds)."
    )
