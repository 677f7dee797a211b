"""Prefect task wrapper of the ``study`` stage."""

from spotlab.infra.orchestration import stage_task
from spotlab.tasks.study import stage

study_task = stage_task(stage.STAGE, stage.run)
