"""Prefect task wrapper of the ``prune`` stage."""

from spotlab.infra.orchestration import stage_task
from spotlab.tasks.prune import stage

prune_task = stage_task(stage.STAGE, stage.run)
