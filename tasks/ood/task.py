"""Prefect task wrapper of the ``ood`` stage."""

from spotlab.infra.orchestration import stage_task
from spotlab.tasks.ood import stage

ood_task = stage_task(stage.STAGE, stage.run)
