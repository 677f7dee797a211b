"""Runs and their manifests: what was written, by which stage, from which inputs, with which checksums.

Artifact bytes live once under their sha256 (``objects/…``, see infra/paths.py); a run's manifest maps
``<stage>/<name>`` to those digests. Bytes are written first and listed in the manifest afterwards, so a
half-written artifact is never visible, and an object's content never changes once written (its key is its hash).
Reads verify sha256. A running run renews a lease; one whose lease went stale is reported ``crashed``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import platform
import re
import secrets
import subprocess
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, Field, ValidationError, computed_field

from spotlab.infra import paths
from spotlab.infra.identity import canonical_json, sha256_bytes
from spotlab.infra.settings import heartbeat_interval_s, heartbeat_timeout_s
from spotlab.infra.storage import ArtifactStore, InvalidKey, NotFound, StorageError, validate_key

log = logging.getLogger("spotlab.runs")

_VERSIONED = ("spotlab", "torch", "torchvision", "numpy", "scipy", "scikit-learn", "prefect", "pydantic")
LAYOUT = "content-addressed-1"
MAX_RUN_ID = 100
# Environment variables whose values must never reach a manifest (a failure message may quote them).
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "SPOTLAB_API_TOKEN",
               "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING")
_SECRET_PATTERNS = (  # user:password@ in URLs; presigned-URL signatures and credentials
    re.compile(r"(://)[^/@\s]+(?=@)"),
    re.compile(r"((?:X-Amz-[A-Za-z]+|Signature|AWSAccessKeyId)=)[^&\s]+"),
)
MAX_ERROR_CHARS = 2000
RunState = Literal["running", "completed", "failed", "crashed"]

class ChecksumMismatch(StorageError):
    """An artifact's bytes do not hash to the sha256 recorded when it was written."""


class NoSuchRun(NotFound):
    """The store answered and has no manifest for that run id."""


class UnreadableRun(StorageError):
    """A run's manifest exists but is not a manifest this version can read (corrupt, or the old layout)."""


class ArtifactRef(BaseModel, frozen=True):
    """What travels between stages: a content digest and what it is (never the bytes, never a location)."""

    path: str = Field(description="Path inside the run, '<stage>/<name>'.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)
    media_type: str

    @computed_field(description="Store-relative key of the bytes (derived from sha256; never read back).")
    @property
    def key(self) -> str:
        return paths.object_key(self.sha256)


class ArtifactRecord(ArtifactRef, frozen=True):
    stage: str
    config_hash: str
    inputs: dict[str, str] = Field(default_factory=dict,
                                   description="'<stage>/<name>' → sha256 of each artifact the stage read (lineage).")
    created: str
    cached_from: str | None = Field(None, description="Run that produced this artifact when the stage was reused.")


class StageResult(BaseModel):
    artifacts: dict[str, ArtifactRef] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)


class StageRecord(StageResult):
    config_hash: str
    cache_key: str
    cached: bool = False
    started: str
    finished: str


class PendingStage(BaseModel):
    """What an unfinished stage has written so far (checkpoints): listed so a retry can resume from it and so
    garbage collection keeps it."""

    identity: str = Field(description="Cache key of the stage execution that wrote these artifacts.")
    artifacts: dict[str, ArtifactRef] = Field(default_factory=dict)


class Manifest(BaseModel):
    layout: Literal["content-addressed-1"] = LAYOUT
    run_id: str
    name: str
    status: Literal["running", "completed", "failed"] = "running"
    error: str | None = Field(None, description="Why the run failed, as the process saw it (type: message).")
    created: str
    config: dict[str, Any]
    config_hash: str
    versions: dict[str, str]
    git_commit: str | None
    stages: dict[str, StageRecord] = Field(default_factory=dict)
    pending: dict[str, PendingStage] = Field(default_factory=dict)
    artifacts: list[ArtifactRecord] = Field(default_factory=list)

    def referenced(self) -> set[str]:
        """Every sha256 this run needs kept."""
        digests = {a.sha256 for a in self.artifacts}
        for record in self.stages.values():
            digests |= {ref.sha256 for ref in record.artifacts.values()}
        for pending in self.pending.values():
            digests |= {ref.sha256 for ref in pending.artifacts.values()}
        return digests


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    """Sortable by creation time (UTC, milliseconds) and unique (random suffix)."""
    now = datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}.{now.microsecond // 1000:03d}-{secrets.token_hex(3)}"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def validate_run_id(run_id: str) -> str:
    """A run id is one safe key segment (it names the folder runs/<run-id>/) of at most MAX_RUN_ID characters."""
    validate_key(run_id)
    if "/" in run_id:
        raise InvalidKey(f"run id {run_id!r} must be a single path segment")
    if len(run_id) > MAX_RUN_ID:
        raise InvalidKey(f"run id {run_id[:20]!r}... is {len(run_id)} characters long; at most {MAX_RUN_ID}")
    return run_id


def describe_failure(exc: BaseException) -> str:
    """``Type: message`` with credentials masked and the length bounded, fit for a manifest or a terminal."""
    text = f"{type(exc).__name__}: {exc}"
    for name in _SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def _validation_summary(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{exc.error_count()} problem(s), first at {where}: {first['msg']}"


def parse_manifest(run_id: str, raw: bytes) -> Manifest:
    """The manifest in ``raw``, or :class:`UnreadableRun` saying in one line what is wrong with it."""
    where = f"run {run_id!r}: manifest"
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableRun(f"{where} is not JSON ({len(raw)} bytes; {type(exc).__name__})") from exc
    if not isinstance(value, dict):
        raise UnreadableRun(f"{where} is a JSON {type(value).__name__}, not an object")
    if "layout" not in value and "run_id" in value:
        raise UnreadableRun(
            f"{where} is in the old per-run layout (artifact files under runs/<id>/, absolute URIs), which this "
            "version does not read; use a new store (--store or $SPOTLAB_ARTIFACTS) and re-run, or read this one "
            f"with the spotlab commit that wrote it ({str(value.get('git_commit'))[:12]})"
        )
    try:
        manifest = Manifest.model_validate(value)
    except ValidationError as exc:
        raise UnreadableRun(f"{where} is not valid: {_validation_summary(exc)}") from exc
    if manifest.run_id != run_id:
        raise UnreadableRun(f"{where} names another run ({manifest.run_id[:MAX_RUN_ID]!r})")
    return manifest


def read_verified(store: ArtifactStore, ref: ArtifactRef) -> bytes:
    try:
        data = store.get_bytes(ref.key)
    except NotFound as exc:
        raise NotFound(f"artifact {ref.path} (sha256 {ref.sha256}) is missing from {store.url}") from exc
    actual = sha256_bytes(data)
    if actual != ref.sha256:
        raise ChecksumMismatch(f"checksum mismatch for {ref.path} ({store.uri(ref.key)}): manifest says "
                               f"{ref.sha256}, bytes hash to {actual}")
    return data


class Run:
    """One run's view of the store: writes artifact objects and keeps its manifest current."""

    def __init__(self, store: ArtifactStore, manifest: Manifest):
        self.store = store
        self.manifest = manifest

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    @property
    def url(self) -> str:
        return self.store.uri(paths.run_prefix(self.run_id))

    @classmethod
    def create(
        cls, store: ArtifactStore, name: str, config: dict[str, Any], config_hash: str, run_id: str | None = None
    ) -> Run:
        """A new run; ``run_id`` (default: a fresh one) lets a caller such as the REST API name it in advance."""
        if run_id is not None:
            validate_run_id(run_id)
        manifest = Manifest(
            run_id=run_id or new_run_id(),
            name=name,
            created=utc_now(),
            config=config,
            config_hash=config_hash,
            versions=package_versions(),
            git_commit=git_commit(),
        )
        run = cls(store, manifest)
        run.save()
        return run

    @classmethod
    def open(cls, store: ArtifactStore, run_id: str) -> Run:
        validate_run_id(run_id)
        try:
            raw = store.get_bytes(paths.manifest(run_id))
        except NotFound as exc:
            raise NoSuchRun(f"no run {run_id!r} in {store.url}") from exc
        return cls(store, parse_manifest(run_id, raw))

    def save(self) -> None:
        self.store.put_bytes(paths.manifest(self.run_id), self.manifest.model_dump_json(indent=2).encode())

    def write(self, stage: str, name: str, data: bytes, media_type: str, identity: str) -> ArtifactRef:
        """Store ``data`` under its hash and list it as written by the unfinished ``stage`` run as ``identity``.

        Identical bytes are written again rather than skipped: the write is atomic, changes no content and
        refreshes the object's age, so garbage collection's grace period covers it.
        """
        ref = ArtifactRef(path=f"{stage}/{validate_key(name)}", sha256=sha256_bytes(data), bytes=len(data),
                          media_type=media_type)
        self.store.put_bytes(ref.key, data)
        pending = self.manifest.pending.get(stage)
        if pending is None or pending.identity != identity:  # another execution's leftovers are not resumable
            pending = self.manifest.pending[stage] = PendingStage(identity=identity)
        pending.artifacts[name] = ref
        self.save()
        return ref

    def write_json(self, stage: str, name: str, value: Any, identity: str) -> ArtifactRef:
        return self.write(stage, name, json.dumps(value, indent=2, default=str).encode(), "application/json", identity)

    def write_png(self, stage: str, name: str, figure, identity: str) -> ArtifactRef:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        return self.write(stage, name, buffer.getvalue(), "image/png", identity)

    def read(self, ref: ArtifactRef) -> bytes:
        return read_verified(self.store, ref)

    def find(self, path: str) -> ArtifactRecord:
        for record in self.manifest.artifacts:
            if record.path == path:
                return record
        raise NotFound(f"run {self.run_id} has no artifact {path!r}")

    def earlier_writes(self, stage: str) -> tuple[str, dict[str, ArtifactRef]] | None:
        """``(identity, artifacts)`` of what ``stage`` wrote before in this run: an unfinished attempt's, else the
        finished stage's; ``None`` if it never wrote anything."""
        if stage in self.manifest.pending:
            pending = self.manifest.pending[stage]
            return pending.identity, dict(pending.artifacts)
        if stage in self.manifest.stages:
            record = self.manifest.stages[stage]
            return record.cache_key, dict(record.artifacts)
        return None

    def record_stage(
        self, stage: str, record: StageRecord, inputs: list[ArtifactRef], cached_from: str | None = None
    ) -> None:
        """List a finished stage's artifacts in the manifest (after their bytes are in the store)."""
        self.manifest.artifacts = [a for a in self.manifest.artifacts if a.stage != stage]
        for ref in record.artifacts.values():
            self.manifest.artifacts.append(
                ArtifactRecord(
                    **ref.model_dump(exclude={"key"}),
                    stage=stage,
                    config_hash=record.config_hash,
                    inputs={i.path: i.sha256 for i in inputs},
                    created=record.finished,
                    cached_from=cached_from,
                )
            )
        self.manifest.stages[stage] = record
        self.manifest.pending.pop(stage, None)
        self.save()

    def finish(self, status: Literal["completed", "failed"], error: str | None = None) -> None:
        self.manifest.status = status
        self.manifest.error = error
        self.save()


class Heartbeat:
    """Renews ``runs/<id>/lease.json`` every ``interval_s`` from a background thread while the block runs.

    A lease object rather than a manifest field: the manifest is rewritten by stage code, and two writers of one
    object would lose each other's updates.
    """

    def __init__(self, store: ArtifactStore, run_id: str, interval_s: float | None = None):
        self.store, self.run_id = store, run_id
        self.interval_s = interval_s or heartbeat_interval_s()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"heartbeat-{run_id}")

    def beat(self) -> None:
        lease = {"renewed": utc_now(), "host": platform.node(), "pid": os.getpid()}
        self.store.put_bytes(paths.lease(self.run_id), json.dumps(lease).encode())

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.beat()
            except StorageError as exc:  # a partition: keep trying; readers will call the run crashed meanwhile
                log.warning("heartbeat of run %s not renewed: %s", self.run_id, exc)

    def __enter__(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def tracked(store: ArtifactStore, run_id: str) -> Iterator[None]:
    """Keep the run's heartbeat while the block runs; then mark it completed, or failed with the cause."""
    with Heartbeat(store, run_id):
        try:
            yield
        except BaseException as exc:
            try:
                Run.open(store, run_id).finish("failed", describe_failure(exc))
            except StorageError as record_error:  # never let this hide the real failure
                log.error("could not record the failure of run %s: %s", run_id, record_error)
            raise
    Run.open(store, run_id).finish("completed")


def last_sign_of_life(store: ArtifactStore, manifest: Manifest) -> datetime:
    """When the run's lease was last renewed (its creation time when it has no readable lease)."""
    try:
        renewed = json.loads(store.get_bytes(paths.lease(manifest.run_id)))["renewed"]
        return datetime.fromisoformat(renewed)
    except NotFound:
        pass
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        log.warning("run %s: unreadable lease (%s); judging by its creation time", manifest.run_id, exc)
    return datetime.fromisoformat(manifest.created)


def observed_state(store: ArtifactStore, manifest: Manifest, timeout_s: float | None = None) -> RunState:
    """The manifest's state, except that a ``running`` run whose lease is older than the timeout is ``crashed``."""
    if manifest.status != "running":
        return manifest.status
    age = (datetime.now(timezone.utc) - last_sign_of_life(store, manifest)).total_seconds()
    return "crashed" if age > (timeout_s or heartbeat_timeout_s()) else "running"


@dataclass
class RunListing:
    manifests: list[Manifest] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # run id → why it was skipped


def list_runs(store: ArtifactStore) -> RunListing:
    """Every run in the store, oldest first (run ids sort by time); a run that cannot be read is skipped and
    reported in ``unreadable`` rather than failing the whole listing."""
    listing = RunListing()
    run_ids = sorted({key.split("/")[1] for key in store.list_keys(paths.RUNS) if key.count("/") >= 2})
    for run_id in run_ids:
        try:
            listing.manifests.append(Run.open(store, run_id).manifest)
        except InvalidKey as exc:
            listing.unreadable[run_id[:MAX_RUN_ID]] = str(exc)
        except NoSuchRun:
            listing.unreadable[run_id] = "no manifest.json (a run being removed, or debris)"
        except UnreadableRun as exc:
            listing.unreadable[run_id] = str(exc)
        except StorageError as exc:
            if not isinstance(exc.__cause__, OSError):  # the store itself failing is not one run's problem
                raise
            listing.unreadable[run_id] = str(exc)
    return listing


def canonical_config(config: BaseModel) -> dict[str, Any]:
    return json.loads(canonical_json(config.model_dump(mode="json")))
