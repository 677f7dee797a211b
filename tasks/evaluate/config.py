"""The evaluate stage's config."""

from __future__ import annotations

from pydantic import Field

from spotlab.models.config import ConfigModel


class EvaluateConfig(ConfigModel):
    split: str = Field("test", pattern="^(test|val|train)$", description="Which split to score.")
    ece_bins: int = Field(15, ge=2, le=100, description="Equal-width confidence bins for the ECE.")
    label_bins: int = Field(100, ge=2, description="Regression: equal-width label bins over the training range "
                                                    "that define the many/medium/few-shot regions.")
