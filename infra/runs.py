"""Runs and their manifests: what was written, by which stage, from which inputs, with which checksums.

The manifest is the only index of a run: artifacts are written first and listed in the manifest afterwards, so a
half-written artifact is never visible. Reads verify sha256 against the reference they were given.
"""

from __future__ import annotations

import io
import json
import platform
import secrets
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from spotlab.infra import paths
from spotlab.infra.identity import canonical_json, sha256_bytes
from spotlab.infra.storage import ArtifactStore, InvalidKey, StorageError, validate_key

_VERSIONED = ("spotlab", "torch", "torchvision", "numpy", "scipy", "scikit-learn", "prefect", "pydantic")


class ChecksumMismatch(StorageError):
    """An artifact's bytes do not hash to the sha256 recorded when it was written."""


class ArtifactRef(BaseModel, frozen=True):
    """What travels between stages: where an artifact is and what its bytes hash to (never the bytes)."""

    uri: str
    path: str = Field(description="Path inside the run, '<stage>/<name>'.")
    sha256: str
    bytes: int
    media_type: str


class ArtifactRecord(ArtifactRef, frozen=True):
    stage: str
    config_hash: str
    inputs: list[str] = Field(default_factory=list, description="URIs of the artifacts the stage read (lineage).")
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


class Manifest(BaseModel):
    run_id: str
    name: str
    status: Literal["running", "completed", "failed"] = "running"
    created: str
    config: dict[str, Any]
    config_hash: str
    versions: dict[str, str]
    git_commit: str | None
    stages: dict[str, StageRecord] = Field(default_factory=dict)
    artifacts: list[ArtifactRecord] = Field(default_factory=list)


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
    """A run id is one safe key segment (it names the folder runs/<run-id>/)."""
    validate_key(run_id)
    if "/" in run_id:
        raise InvalidKey(f"run id {run_id!r} must be a single path segment")
    return run_id


def read_verified(store: ArtifactStore, ref: ArtifactRef) -> bytes:
    data = store.get_bytes(store.key_of(ref.uri))
    actual = sha256_bytes(data)
    if actual != ref.sha256:
        raise ChecksumMismatch(f"checksum mismatch for {ref.uri}: manifest says {ref.sha256}, bytes hash to {actual}")
    return data


class Run:
    """One run's view of the store: writes artifacts under ``runs/<id>/`` and keeps its manifest current."""

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
        except StorageError as exc:
            raise StorageError(f"no run {run_id!r} in {store.url}") from exc
        return cls(store, Manifest.model_validate_json(raw))

    def save(self) -> None:
        self.store.put_bytes(paths.manifest(self.run_id), self.manifest.model_dump_json(indent=2).encode())

    def write(self, stage: str, name: str, data: bytes, media_type: str) -> ArtifactRef:
        key = paths.artifact(self.run_id, stage, name)
        self.store.put_bytes(key, data)
        return ArtifactRef(
            uri=self.store.uri(key),
            path=f"{stage}/{name}",
            sha256=sha256_bytes(data),
            bytes=len(data),
            media_type=media_type,
        )

    def write_json(self, stage: str, name: str, value: Any) -> ArtifactRef:
        return self.write(stage, name, json.dumps(value, indent=2, default=str).encode(), "application/json")

    def write_png(self, stage: str, name: str, figure) -> ArtifactRef:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        return self.write(stage, name, buffer.getvalue(), "image/png")

    def read(self, ref: ArtifactRef) -> bytes:
        return read_verified(self.store, ref)

    def find(self, path: str) -> ArtifactRecord:
        for record in self.manifest.artifacts:
            if record.path == path:
                return record
        raise StorageError(f"run {self.run_id} has no artifact {path!r}")

    def record_stage(
        self, stage: str, record: StageRecord, inputs: list[ArtifactRef], cached_from: str | None = None
    ) -> None:
        """List a finished stage's artifacts in the manifest (after their bytes are in the store)."""
        self.manifest.artifacts = [a for a in self.manifest.artifacts if a.stage != stage]
        for ref in record.artifacts.values():
            self.manifest.artifacts.append(
                ArtifactRecord(
                    **ref.model_dump(),
                    stage=stage,
                    config_hash=record.config_hash,
                    inputs=[i.uri for i in inputs],
                    created=record.finished,
                    cached_from=cached_from,
                )
            )
        self.manifest.stages[stage] = record
        self.save()

    def finish(self, status: Literal["completed", "failed"]) -> None:
        self.manifest.status = status
        self.save()


def list_runs(store: ArtifactStore) -> list[Manifest]:
    """Every run with a manifest, oldest first (run ids sort by time)."""
    manifests = []
    for key in store.list_keys(paths.RUNS):
        parts = key.split("/")
        if len(parts) == 3 and parts[2] == "manifest.json":
            manifests.append(Manifest.model_validate_json(store.get_bytes(key)))
    return sorted(manifests, key=lambda m: m.run_id)


def canonical_config(config: BaseModel) -> dict[str, Any]:
    return json.loads(canonical_json(config.model_dump(mode="json")))
