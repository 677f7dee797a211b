"""Running one stage: reuse the cache when its identity is unchanged, else run it and record it.

A cache hit copies the producing run's ``<stage>/<name>`` → sha256 entries into this run's manifest: no bytes
are copied and nothing points into another run, so removing or re-running the producer never breaks this run.

A stage function takes a :class:`StageContext` (its run, name, typed config, seed and input references) and returns
a :class:`StageResult` (references to what it wrote plus a small metrics dict). Only references and metrics travel
between stages, so the same stage can run in-process, in a subprocess or in a Kubernetes pod.
"""

from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from pydantic import BaseModel, ValidationError

from spotlab.infra import paths
from spotlab.infra.identity import config_hash, stage_cache_key
from spotlab.infra.runs import ArtifactRef, Run, StageRecord, StageResult, utc_now
from spotlab.infra.storage import NotFound, StorageError

log = logging.getLogger("spotlab.stages")


@dataclass
class StageContext:
    run: Run
    stage: str
    config: BaseModel
    seed: int
    identity: str  # the stage's cache key: what a checkpoint must match to be resumed
    inputs: dict[str, ArtifactRef] = field(default_factory=dict)
    written: dict[str, ArtifactRef] = field(default_factory=dict)

    def write(self, name: str, data: bytes, media_type: str) -> ArtifactRef:
        ref = self.run.write(self.stage, name, data, media_type, self.identity)
        self.written[name] = ref
        return ref

    def write_json(self, name: str, value: Any) -> ArtifactRef:
        ref = self.run.write_json(self.stage, name, value, self.identity)
        self.written[name] = ref
        return ref

    def write_png(self, name: str, figure) -> ArtifactRef:
        ref = self.run.write_png(self.stage, name, figure, self.identity)
        self.written[name] = ref
        return ref

    def write_npz(self, name: str, **arrays: np.ndarray) -> ArtifactRef:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return self.write(name, buffer.getvalue(), "application/x-npz")

    def read(self, input_name: str) -> bytes:
        if input_name not in self.inputs:
            raise StorageError(f"stage {self.stage!r} needs input {input_name!r}; got {sorted(self.inputs)}")
        return self.run.read(self.inputs[input_name])

    def read_json(self, input_name: str) -> Any:
        return json.loads(self.read(input_name))

    def read_npz(self, input_name: str) -> dict[str, np.ndarray]:
        with np.load(io.BytesIO(self.read(input_name))) as archive:
            return {k: archive[k] for k in archive.files}

    def result(self, metrics: dict[str, Any]) -> StageResult:
        return StageResult(artifacts=dict(self.written), metrics=metrics)


StageFn = Callable[[StageContext], StageResult]


def _cached(run: Run, stage: str, cache_key: str) -> tuple[StageRecord, str] | None:
    """The earlier record of this exact stage identity and the run that wrote it, if all its artifacts remain."""
    key = paths.cache_entry(stage, cache_key)
    try:
        entry = json.loads(run.store.get_bytes(key))
        record = StageRecord.model_validate(entry["record"])
        source = str(entry["run_id"])
    except NotFound:
        return None
    except (ValueError, TypeError, KeyError, ValidationError) as exc:  # corrupt or old-layout entry: recompute
        log.warning("stage %s: ignoring unreadable cache entry %s (%s)", stage, key, type(exc).__name__)
        return None
    # Reuse only when every object is still there (garbage collection may have taken them).
    if not all(run.store.exists(ref.key) for ref in record.artifacts.values()):
        return None
    return record.model_copy(update={"cached": True}), source


def execute_stage(
    run: Run,
    stage: str,
    config: BaseModel,
    seed: int,
    inputs: dict[str, ArtifactRef],
    fn: StageFn,
    force: bool = False,
) -> StageResult:
    cache_key = stage_cache_key(stage, config, seed, [ref.sha256 for ref in inputs.values()])
    if not force:
        hit = _cached(run, stage, cache_key)
        if hit is not None:
            record, source = hit
            log.info("stage %s unchanged (key %s): reusing run %s", stage, cache_key, source)
            run.record_stage(stage, record, list(inputs.values()), cached_from=source)
            return StageResult(artifacts=record.artifacts, metrics=record.metrics)
    started = utc_now()
    log.info("stage %s: running", stage)
    clock = time.perf_counter()
    ctx = StageContext(run=run, stage=stage, config=config, seed=seed, identity=cache_key, inputs=dict(inputs))
    result = fn(ctx)
    log.info("stage %s: done in %.1f s", stage, time.perf_counter() - clock)
    record = StageRecord(
        artifacts=result.artifacts,
        metrics=result.metrics,
        config_hash=config_hash(config),
        cache_key=cache_key,
        started=started,
        finished=utc_now(),
    )
    run.record_stage(stage, record, list(inputs.values()))
    entry = {"run_id": run.run_id, "record": record.model_dump(mode="json")}
    run.store.put_bytes(paths.cache_entry(stage, cache_key), json.dumps(entry, indent=2).encode())
    return result
