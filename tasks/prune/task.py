"""Prefect task wrapper of the ``prune`` stage."""

from infra.orchestration import stage_task
from tasks.prune import stage

prune_task = stage_task(stage.STAGE, stage.run)
