"""The OOD-method registry (``kind`` → config) and the ``ood`` stage config; OOD sources have their registry,
``OOD_SOURCES``, next to the wild data in tasks/ood/wild.py."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.ood.baselines import EnergyConfig, OutlierExposureConfig
from spotlab.tasks.ood.finetune import FineTuneConfig
from spotlab.tasks.ood.wild import WildDataConfig
from spotlab.tasks.ood.woods import WOODSConfig

OOD_METHODS = {cfg.model_fields["kind"].default: cfg for cfg in (EnergyConfig, OutlierExposureConfig, WOODSConfig)}

OODMethodConfig = Annotated[Union[tuple(OOD_METHODS.values())], Field(discriminator="kind")]


class OODStageConfig(ConfigModel):
    wild: WildDataConfig = Field(default_factory=WildDataConfig, description="OOD source and wild mixture.")
    method: OODMethodConfig = Field(
        default_factory=WOODSConfig, description="How the trained model becomes a detector (by kind); 'energy' "
        "only evaluates it."
    )
    fine_tune: FineTuneConfig = Field(default_factory=FineTuneConfig, description="Fine-tuning recipe.")
    bins: int = Field(40, ge=5, le=200, description="Bins of the score histogram.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where to fine-tune; auto picks CUDA when present.", json_schema_extra={"identity": False}
    )
