"""The ``attack`` stage (placeholder until the attack family lands)."""

from __future__ import annotations

from infra.runs import StageResult
from infra.stages import StageContext

STAGE = "attack"


def run(ctx: StageContext) -> StageResult:
    raise NotImplementedError("the attack stage is not implemented yet")
