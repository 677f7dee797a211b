"""The main pipeline: prep → train → evaluate (→ optional stages), each a cached Prefect task."""

from __future__ import annotations

from typing import Any

from prefect import flow

from spotlab.flows.stages import STAGES
from spotlab.infra.config import ConfigError, PipelineConfig
from spotlab.infra.identity import config_hash
from spotlab.infra.orchestration import RunHandle
from spotlab.infra.runs import ArtifactRef, Run, StageResult, canonical_config, tracked
from spotlab.infra.storage import open_store
from spotlab.tasks.progress import advance


def stage_inputs(stage: str, done: dict[str, StageResult]) -> dict[str, ArtifactRef]:
    inputs = {}
    for name, (producer, artifact) in STAGES[stage].inputs.items():
        if producer not in done:
            if STAGES[stage].inputs_optional:
                continue
            raise ConfigError(f"stage {stage!r} needs {producer!r}'s {artifact}; add {producer!r} to stages")
        inputs[name] = done[producer].artifacts[artifact]
    return inputs


@flow(name="pipeline", validate_parameters=True)
def pipeline(config: PipelineConfig, force: bool = False, run_id: str | None = None) -> dict[str, Any]:
    """Run ``config``'s stages in order; returns {run_id, artifact_url, stages: {stage: metrics}}.

    ``run_id`` names the run in advance (the REST API returns it before the run starts); default: a fresh id.
    """
    store = open_store(config.storage.url, config.storage.endpoint_url)
    run = Run.create(store, config.name, canonical_config(config), config_hash(config), run_id=run_id)
    handle = RunHandle(store_url=config.storage.url, endpoint_url=config.storage.endpoint_url, run_id=run.run_id)
    done: dict[str, StageResult] = {}
    stages = config.active_stages()
    with tracked(store, run.run_id):  # heartbeat while running; completed, or failed with the cause
        for index, stage in enumerate(stages):
            advance("stage", index, len(stages), stage)
            spec = STAGES[stage]
            task = spec.task.with_options(
                retries=config.execution.retries, retry_delay_seconds=config.execution.retry_delay_s
            )
            section = getattr(config, spec.section)
            done[stage] = task(handle, section, config.seed, stage_inputs(stage, done), force)
    advance("stage", len(stages), len(stages), "done")
    return {
        "run_id": run.run_id,
        "artifact_url": run.url,
        "stages": {stage: result.metrics for stage, result in done.items()},
    }
