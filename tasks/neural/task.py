"""Prefect task wrapper of the ``sensitivity`` stage."""

from spotlab.infra.orchestration import stage_task
from spotlab.tasks.neural import stage

sensitivity_task = stage_task(stage.STAGE, stage.run)
