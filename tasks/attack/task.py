"""Prefect task wrapper of the ``attack`` stage."""

from infra.orchestration import stage_task
from tasks.attack import stage

attack_task = stage_task(stage.STAGE, stage.run)
