"""Every key the project writes is built here, one function per kind of path; nothing else formats keys.

The store layout::

    objects/<sha256[:2]>/<sha256>        artifact bytes, written once under the hash of their content
    runs/<run-id>/manifest.json          the run: config, state, and <stage>/<name> → sha256 with lineage
    runs/<run-id>/lease.json             the run's heartbeat while a process works on it
    runs/<run-id>/<stage>/scratch/<name> hand-over files between processes of one stage (never artifacts)
    cache/<stage>/<cache-key>.json       a finished stage's record by its identity, for later runs to reuse

Every key is relative to the store's root, so a store folder or S3 prefix can be copied or moved whole.
"""

from __future__ import annotations

import re

from spotlab.infra.storage import InvalidKey, join_key, validate_key

OBJECTS = "objects"
RUNS = "runs"
CACHE = "cache"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def object_key(sha256: str) -> str:
    """Where the bytes hashing to ``sha256`` live; fanned out by the first two hex digits."""
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise InvalidKey(f"{sha256!r} is not a sha256 hex digest")
    return join_key(OBJECTS, sha256[:2], sha256)


def run_prefix(run_id: str) -> str:
    return join_key(RUNS, run_id)


def manifest(run_id: str) -> str:
    return join_key(RUNS, run_id, "manifest.json")


def lease(run_id: str) -> str:
    return join_key(RUNS, run_id, "lease.json")


def scratch(run_id: str, stage: str, name: str) -> str:
    """A file one process of a stage hands to another (e.g. a distributed worker's result); not an artifact."""
    return join_key(RUNS, run_id, stage, "scratch", validate_key(name))


def cache_entry(stage: str, cache_key: str) -> str:
    """Index of a finished stage by its identity, so an unchanged stage is not redone by a later run."""
    return join_key(CACHE, stage, f"{cache_key}.json")
