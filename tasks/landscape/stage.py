"""The ``landscape`` stage (placeholder until the landscape family lands)."""

from __future__ import annotations

from infra.runs import StageResult
from infra.stages import StageContext

STAGE = "landscape"


def run(ctx: StageContext) -> StageResult:
    raise NotImplementedError("the landscape stage is not implemented yet")
