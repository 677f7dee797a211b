"""Prefect task wrapper of the ``prep`` stage."""

from infra.orchestration import stage_task
from tasks.data import stage

prep_task = stage_task(stage.STAGE, stage.run)
