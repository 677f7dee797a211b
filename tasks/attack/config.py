"""The attack stage's config (placeholder until the attack family lands)."""

from __future__ import annotations

from pydantic import BaseModel


class AttackStageConfig(BaseModel, frozen=True, extra="forbid"):
    pass
