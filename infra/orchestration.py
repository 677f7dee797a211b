"""The one piece every Prefect stage task shares: open the run, execute the stage (cached), publish its metrics."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_table_artifact
from pydantic import BaseModel

from spotlab.infra.runs import ArtifactRef, Run, StageResult
from spotlab.infra.stages import StageFn, execute_stage
from spotlab.infra.storage import open_store


class RunHandle(BaseModel, frozen=True):
    """How a stage finds its run from any process or pod: the store and the run id (never live objects)."""

    store_url: str
    endpoint_url: str | None = None
    run_id: str

    def open(self) -> Run:
        return Run.open(open_store(self.store_url, self.endpoint_url), self.run_id)


def _flat(metrics: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    rows = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            rows += _flat(value, f"{prefix}{key}.")
        else:
            rows.append({"metric": f"{prefix}{key}", "value": value if isinstance(value, (int, float, str)) else str(value)})
    return rows


def run_stage(
    handle: RunHandle,
    stage: str,
    config: BaseModel,
    seed: int,
    inputs: dict[str, ArtifactRef],
    fn: StageFn,
    force: bool = False,
) -> StageResult:
    run = handle.open()
    result = execute_stage(run, stage, config, seed, inputs, fn, force=force)
    create_table_artifact(
        key=f"{stage}-metrics",
        table=_flat(result.metrics),
        description=f"**{stage}** metrics of run `{handle.run_id}`",
    )
    return result


def stage_task(name: str, fn: StageFn):
    """A Prefect task running stage ``name`` through :func:`run_stage` (our cache, so Prefect's is off)."""
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    @task(name=name, cache_policy=NO_CACHE)
    def run_named_stage(
        run: RunHandle, config: BaseModel, seed: int, inputs: dict[str, ArtifactRef], force: bool = False
    ) -> StageResult:
        return run_stage(run, name, config, seed, inputs, fn, force)

    return run_named_stage
