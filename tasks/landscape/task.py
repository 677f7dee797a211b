"""Prefect task wrapper of the ``landscape`` stage."""

from spotlab.infra.orchestration import stage_task
from spotlab.tasks.landscape import stage

landscape_task = stage_task(stage.STAGE, stage.run)
