"""Prefect task wrapper of the ``train`` stage."""

from spotlab.infra.orchestration import stage_task
from spotlab.tasks.train import stage

train_task = stage_task(stage.STAGE, stage.run)
