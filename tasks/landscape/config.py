"""The landscape stage's config: which analyses (by ``kind``) to run on the trained model, and on what data."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from spotlab.models.config import ConfigModel
from spotlab.tasks.landscape.analyses import ANALYSES, AnalysisConfig, FlatnessConfig, HessianConfig, SharpnessConfig


def _kinds_unique_schema(schema: dict) -> None:
    """:meth:`LandscapeStageConfig._kinds_unique` in the JSON schema: each kind at most once among the analyses."""
    schema["allOf"] = [
        {"properties": {"analyses": {"contains": {"required": ["kind"], "properties": {"kind": {"const": kind}}},
                                     "minContains": 0, "maxContains": 1}}}
        for kind in ANALYSES
    ]


class LandscapeStageConfig(ConfigModel):
    split: Literal["train", "val", "test"] = Field("train", description="Split whose loss landscape is analysed.")
    max_examples: int = Field(
        512, ge=1, description="Analyse a seeded random subset of at most this many examples of the split."
    )
    analyses: list[AnalysisConfig] = Field(
        default_factory=lambda: [HessianConfig(), SharpnessConfig(), FlatnessConfig()],
        min_length=1,
        description="Analyses to run (by kind: hessian, sharpness, flatness).",
    )

    model_config = ConfigDict(json_schema_extra=_kinds_unique_schema)

    @model_validator(mode="after")
    def _kinds_unique(self):
        kinds = [a.kind for a in self.analyses]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"landscape.analyses lists a kind twice ({kinds}); give each analysis once")
        return self
