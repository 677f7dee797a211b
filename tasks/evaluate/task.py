"""Prefect task wrapper of the ``evaluate`` stage."""

from spotlab.infra.orchestration import stage_task
from spotlab.tasks.evaluate import stage

evaluate_task = stage_task(stage.STAGE, stage.run)
