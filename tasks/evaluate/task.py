"""Prefect task wrapper of the ``evaluate`` stage."""

from infra.orchestration import stage_task
from tasks.evaluate import stage

evaluate_task = stage_task(stage.STAGE, stage.run)
