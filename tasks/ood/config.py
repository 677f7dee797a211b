"""The OOD family's registries (OOD methods and OOD sources, each keyed by ``kind``) and the ``ood`` stage config."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field

from spotlab.tasks.ood.baselines import EnergyConfig, OutlierExposureConfig
from spotlab.tasks.ood.finetune import FineTuneConfig
from spotlab.tasks.ood.wild import OOD_SOURCES, WildDataConfig  # noqa: F401 - OOD_SOURCES is the source registry
from spotlab.tasks.ood.woods import WOODSConfig

OOD_METHODS = {cfg.model_fields["kind"].default: cfg for cfg in (EnergyConfig, OutlierExposureConfig, WOODSConfig)}

OODMethodConfig = Annotated[Union[tuple(OOD_METHODS.values())], Field(discriminator="kind")]


class OODStageConfig(BaseModel, frozen=True, extra="forbid"):
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
