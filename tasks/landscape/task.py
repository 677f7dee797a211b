"""Prefect task wrapper of the ``landscape`` stage."""

from infra.orchestration import stage_task
from tasks.landscape import stage

landscape_task = stage_task(stage.STAGE, stage.run)
