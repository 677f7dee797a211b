"""Prefect task wrapper of the ``train`` stage."""

from infra.orchestration import stage_task
from tasks.train import stage

train_task = stage_task(stage.STAGE, stage.run)
