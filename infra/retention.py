"""Removing runs and collecting the objects no run needs any more (``spotlab runs rm`` / ``spotlab gc``).

Removing a run deletes only its own folder (manifest first, so it leaves listings at once); the objects it named
stay until garbage collection finds that no manifest references them. Collection reads every manifest before it
lists the objects, and keeps any object younger than a grace period: a run writing right now stores its bytes
before naming them in its manifest, and those bytes are young.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from spotlab.infra import paths
from spotlab.infra.runs import NoSuchRun, Run, UnreadableRun, list_runs, observed_state, validate_run_id
from spotlab.infra.storage import ArtifactStore, StorageError

DEFAULT_GRACE_S = 3600.0


class RunIsLive(StorageError):
    """The run's heartbeat is fresh: removing it would pull the floor from under a working process."""


def remove_run(store: ArtifactStore, run_id: str, force: bool = False) -> int:
    """Delete ``runs/<run_id>/``; returns how many keys went. A live run is refused unless ``force``."""
    validate_run_id(run_id)
    try:
        manifest = Run.open(store, run_id).manifest
    except UnreadableRun:  # a corrupt run is exactly what one wants to remove
        manifest = None
    keys = store.list_keys(paths.run_prefix(run_id))
    if not keys:
        raise NoSuchRun(f"no run {run_id!r} in {store.url}")
    if manifest is not None and not force and observed_state(store, manifest) == "running":
        raise RunIsLive(f"run {run_id!r} is running (its heartbeat is fresh); wait for it, or pass --force")
    manifest_key = paths.manifest(run_id)
    for key in sorted(keys, key=lambda k: k != manifest_key):  # the manifest first
        store.delete(key)
    return len(keys)


@dataclass
class Collection:
    referenced: int = 0
    young: int = 0
    deleted: list[str] = field(default_factory=list)
    stale_cache_entries: list[str] = field(default_factory=list)


def collect_garbage(store: ArtifactStore, grace_s: float = DEFAULT_GRACE_S, dry_run: bool = False) -> Collection:
    """Delete objects that no manifest references and that are older than ``grace_s``, then the cache entries
    pointing at objects that are gone. Refuses to run while any manifest is unreadable (what it references is
    unknown)."""
    listing = list_runs(store)
    if listing.unreadable:
        names = ", ".join(sorted(listing.unreadable)[:5])
        raise StorageError(f"gc needs every manifest readable; unreadable: {names} (see `spotlab runs ls`; remove "
                           "them with `spotlab runs rm RUN`)")
    needed = set().union(*(m.referenced() for m in listing.manifests))
    now = time.time()
    result = Collection()
    present = set()
    for item in store.list_objects(paths.OBJECTS):
        digest = item.key.rsplit("/", 1)[-1]
        if digest in needed:
            result.referenced += 1
        elif now - item.modified < grace_s:
            result.young += 1
        else:
            result.deleted.append(item.key)
            continue
        present.add(digest)
    for key in result.deleted:
        if not dry_run:
            store.delete(key)
    for entry in store.list_objects(paths.CACHE):
        if now - entry.modified < grace_s:
            continue
        try:
            digests = {ref["sha256"] for ref in json.loads(store.get_bytes(entry.key))["record"]["artifacts"].values()}
        except (ValueError, TypeError, KeyError, AttributeError):
            digests = {None}  # unreadable: useless to any run
        if not digests <= present:
            result.stale_cache_entries.append(entry.key)
            if not dry_run:
                store.delete(entry.key)
    return result
