"""The base of every config model: frozen, no unknown fields, and no value that validates only to kill the run.

Every family's config (models, tasks, infra) derives from :class:`ConfigModel`, so these rules hold once for all of
them rather than field by field: floats must be finite (NaN, ±inf and overflowing literals such as ``1e400`` are
refused with their field path), and integers are strict (``epochs: true`` or ``epochs: 2.5`` is an error, not
``1`` or ``2``). It lives in ``models`` because that is the bottom layer every family may import.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


def _strict_integers(schema: Any) -> None:
    """Mark every integer of a model's own core schema strict (nested models are references, hardened by their own
    class). Lax integers accept booleans and integral floats, which a config should never mean."""
    if isinstance(schema, dict):
        if schema.get("type") == "int":
            schema["strict"] = True
        for value in schema.values():
            _strict_integers(value)
    elif isinstance(schema, list):
        for value in schema:
            _strict_integers(value)


class ConfigModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        schema = handler(source)
        _strict_integers(schema)
        return schema


# numpy's RandomState (and so scikit-learn's random_state) takes seeds in 0…2^32−1; a larger one validates as an int
# and then kills the run.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
