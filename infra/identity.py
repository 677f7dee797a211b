"""Identities: a hash of the settings that change a result, and nothing else.

Following open_lth, a config's identity leaves out fields equal to their defaults (so adding a field with a
default never changes old identities) but always keeps ``kind`` discriminators (so two methods whose other
settings are all defaults still differ). Fields marked ``json_schema_extra={"identity": False}`` (operational
settings such as workers or storage URLs) are left out.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

from pydantic import BaseModel


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _counts_for_identity(field) -> bool:
    extra = field.json_schema_extra
    return not (isinstance(extra, dict) and extra.get("identity") is False)


def identity_view(value: Any) -> Any:
    """The JSON-able part of ``value`` that determines results (see module docstring)."""
    if isinstance(value, BaseModel):
        out = {}
        for name, field in type(value).model_fields.items():
            if not _counts_for_identity(field):
                continue
            item = getattr(value, name)
            if name != "kind" and not field.is_required() and item == field.get_default(call_default_factory=True):
                continue
            view = identity_view(item)
            if isinstance(item, BaseModel) and view == {}:  # only operational settings differed
                continue
            out[name] = view
        return out
    if isinstance(value, dict):
        return {str(k): identity_view(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [identity_view(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    return value


def digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


def config_hash(config: BaseModel | dict) -> str:
    return digest(canonical_json(identity_view(config)))


def stage_cache_key(stage: str, config: BaseModel | dict, seed: int, input_hashes: Iterable[str]) -> str:
    """Identity of one stage execution: its config, the run seed and the checksums of its inputs."""
    return digest(stage, config_hash(config), str(seed), *sorted(input_hashes))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
