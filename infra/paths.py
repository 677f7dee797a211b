"""Every key the project writes is built here, one function per kind of path; nothing else formats keys."""

from __future__ import annotations

from spotlab.infra.storage import join_key, validate_key

RUNS = "runs"
CACHE = "cache"


def run_prefix(run_id: str) -> str:
    return join_key(RUNS, run_id)


def manifest(run_id: str) -> str:
    return join_key(RUNS, run_id, "manifest.json")


def artifact(run_id: str, stage: str, name: str) -> str:
    """``runs/<run-id>/<stage>/<name>``; ``name`` may contain sub-folders (``checkpoints/epoch-0005.pt``)."""
    return join_key(RUNS, run_id, stage, validate_key(name))


def stage_prefix(run_id: str, stage: str) -> str:
    return join_key(RUNS, run_id, stage)


def cache_entry(stage: str, cache_key: str) -> str:
    """Index of a finished stage by its identity, so an unchanged stage is not redone by a later run."""
    return join_key(CACHE, stage, f"{cache_key}.json")
