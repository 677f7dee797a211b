"""The main pipeline: prep → train → evaluate (→ optional stages), each a cached Prefect task in this process, or
with ``execution.stages: deployments`` each its own flow run and job (``flows/stage_jobs.py``)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from spotlab.flows.stage_jobs import require_stage_deployments, run_stage_job
from spotlab.flows.stages import STAGES, stage_inputs
from spotlab.infra.config import PipelineConfig
from spotlab.infra.identity import config_hash
from spotlab.infra.orchestration import RunHandle
from spotlab.infra.runs import Run, StageResult, canonical_config, tracked
from spotlab.infra.storage import open_store
from spotlab.tasks.progress import advance


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
    as_jobs = config.execution.stages == "deployments"
    retry = {"retries": config.execution.retries, "retry_delay_seconds": config.execution.retry_delay_s}
    with tracked(store, run.run_id):  # heartbeat while running; completed, or failed with the cause
        if as_jobs:
            require_stage_deployments(stages)
        for index, stage in enumerate(stages):
            advance("stage", index, len(stages), stage)
            spec = STAGES[stage]
            section = getattr(config, spec.section)
            if as_jobs:  # the stage's own flow run reads its inputs from the manifest
                job = run_stage_job.with_options(name=stage, **retry)
                done[stage] = job(handle, stage, section, config.seed, force, config.execution.stage_resources(stage))
            else:
                task = spec.task.with_options(**retry)
                done[stage] = task(handle, section, config.seed, stage_inputs(stage, done), force)
    advance("stage", len(stages), len(stages), "done")
    return {
        "run_id": run.run_id,
        "artifact_url": run.url,
        "stages": {stage: result.metrics for stage, result in done.items()},
    }
