"""The landscape stage's config (placeholder until the landscape family lands)."""

from __future__ import annotations

from pydantic import BaseModel


class LandscapeStageConfig(BaseModel, frozen=True, extra="forbid"):
    pass
