"""The prune stage's config (placeholder until the prune family lands)."""

from __future__ import annotations

from pydantic import BaseModel


class PruneStageConfig(BaseModel, frozen=True, extra="forbid"):
    pass
