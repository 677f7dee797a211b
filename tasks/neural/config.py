"""The ``sensitivity`` stage's config: the brain stand-in and the evaluation of the trained model as the student."""

from __future__ import annotations

from pydantic import Field

from spotlab.tasks.neural.brain import BrainConfig
from spotlab.tasks.neural.evaluation import SensitivityConfig


class SensitivityStageConfig(SensitivityConfig, frozen=True, extra="forbid"):
    brain: BrainConfig = Field(default_factory=BrainConfig, description="The teacher network playing the brain.")
