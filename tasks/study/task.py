"""Prefect task wrapper of the ``study`` stage."""

from infra.orchestration import stage_task
from tasks.study import stage

study_task = stage_task(stage.STAGE, stage.run)
