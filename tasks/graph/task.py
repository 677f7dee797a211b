"""Prefect task wrappers of the ``embed`` and ``classify`` stages."""

from spotlab.infra.orchestration import stage_task
from spotlab.tasks.graph import stage

embed_task = stage_task(stage.EMBED_STAGE, stage.run_embed)
classify_task = stage_task(stage.CLASSIFY_STAGE, stage.run_classify)
