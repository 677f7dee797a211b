"""Prefect task wrapper of the ``attack`` stage."""

from spotlab.infra.orchestration import stage_task
from spotlab.tasks.attack import stage

attack_task = stage_task(stage.STAGE, stage.run)
