"""The ``prune`` stage (placeholder until the prune family lands)."""

from __future__ import annotations

from infra.runs import StageResult
from infra.stages import StageContext

STAGE = "prune"


def run(ctx: StageContext) -> StageResult:
    raise NotImplementedError("the prune stage is not implemented yet")
