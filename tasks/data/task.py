"""Prefect task wrapper of the ``prep`` stage."""

from spotlab.infra.orchestration import stage_task
from spotlab.tasks.data import stage

prep_task = stage_task(stage.STAGE, stage.run)
