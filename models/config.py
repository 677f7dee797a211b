"""The base of every config model: frozen, no unknown fields, and no value that validates only to kill the run.

Every family's config (models, tasks, infra) derives from :class:`ConfigModel`, so these rules hold once for all of
them rather than field by field: floats must be finite (NaN, ±inf and overflowing literals such as ``1e400`` are
refused with their field path), integers refuse booleans (``epochs: true`` is an error, not ``1``; ``2.5`` was
already one), and booleans take only ``true``/``false`` (not ``0.0``, ``1`` or ``"yes"`` as a string). It lives in ``models`` because that is the bottom layer every family may import.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError, core_schema


def _refuse_booleans(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer, not a boolean")
    return value


def _match_json_schema_types(schema: Any) -> None:
    """Make a model's own core schema accept what its JSON schema accepts (nested models are references, handled by
    their own class): :func:`_refuse_booleans` in front of every integer (pydantic's lax integers take ``true`` as
    1; its strict ones refuse ``3.0``, which JSON Schema calls an integer), and strict booleans (lax ones take
    ``0.0``, ``1`` and ``"yes"``, which a JSON-schema boolean refuses), so the API's schema never refuses what the
    validator takes or promises what it refuses."""
    if isinstance(schema, dict):
        # Already guarded: a schema shared by several models must be wrapped once, not once per model (nesting a
        # wrapper per visit grows without bound and overflows the JSON-schema generator's recursion).
        if schema.get("type") == "function-before" and schema["function"].get("function") is _refuse_booleans:
            return
        if schema.get("type") == "int":
            integer = dict(schema)
            schema.clear()
            schema.update(core_schema.no_info_before_validator_function(_refuse_booleans, integer))
            return
        if schema.get("type") == "bool":
            schema["strict"] = True
            return
        for value in schema.values():
            _match_json_schema_types(value)
    elif isinstance(schema, list):
        for value in schema:
            _match_json_schema_types(value)


class ConfigModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        schema = handler(source)
        _match_json_schema_types(schema)
        return schema


# numpy's RandomState (and so scikit-learn's random_state) takes seeds in 0…2^32−1; a larger one validates as an int
# and then kills the run.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]

# Kubernetes resource quantities: plain or decimal numbers with an optional SI / binary suffix.
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
