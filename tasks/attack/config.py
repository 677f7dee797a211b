"""The attack registry (``kind`` → config) and the attack stage's config."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.attack.apgd import APGDConfig
from spotlab.tasks.attack.cgd import CGDConfig
from spotlab.tasks.attack.metrics import RandomPerturbationConfig
from spotlab.tasks.attack.pgd import PGDConfig

ATTACKS = {cfg.model_fields["kind"].default: cfg for cfg in (PGDConfig, APGDConfig, CGDConfig)}

AttackConfig = Annotated[Union[tuple(ATTACKS.values())], Field(discriminator="kind")]


class AttackStageConfig(ConfigModel):
    attacks: list[AttackConfig] = Field(
        default_factory=lambda: [APGDConfig()], min_length=1, description="Attacks to run, each by kind."
    )
    random_perturbations: RandomPerturbationConfig | None = Field(
        None, description="Also score ProbAcc(ρ), augmented accuracy and test CVaR under uniform perturbations."
    )
    split: Literal["test", "val", "train"] = Field("test", description="Which split to attack.")
    n_examples: int = Field(500, ge=1, description="Attack the first this many examples of the split.")
    n_shown: int = Field(8, ge=1, le=32, description="Clean/adversarial pairs drawn in examples.png.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where to attack; auto picks CUDA when present.", json_schema_extra={"identity": False}
    )
