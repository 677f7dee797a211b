"""The stage registry: each pipeline stage's Prefect task, config section and the inputs it takes from earlier
stages (input name → (producing stage, artifact name))."""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.stages import StageFn
from tasks.attack import stage as attack_stage
from tasks.attack.task import attack_task
from tasks.data import stage as prep_stage
from tasks.data.task import prep_task
from tasks.evaluate import stage as evaluate_stage
from tasks.evaluate.task import evaluate_task
from tasks.landscape import stage as landscape_stage
from tasks.landscape.task import landscape_task
from tasks.prune import stage as prune_stage
from tasks.prune.task import prune_task
from tasks.study import stage as study_stage
from tasks.study.task import study_task
from tasks.train import stage as train_stage
from tasks.train.task import train_task

DATA = {"splits": ("prep", "splits.npz"), "info": ("prep", "info.json")}
MODEL = {"model": ("train", "model.pt")}


@dataclass(frozen=True)
class StageSpec:
    task: object
    section: str
    inputs: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Inputs whose producer did not run are left out instead of failing (the stage decides if it needs them).
    inputs_optional: bool = False


STAGES: dict[str, StageSpec] = {
    "prep": StageSpec(prep_task, "data"),
    "train": StageSpec(train_task, "train", DATA),
    "evaluate": StageSpec(evaluate_task, "evaluate", DATA | MODEL),
    "attack": StageSpec(attack_task, "attack", DATA | MODEL),
    "prune": StageSpec(prune_task, "prune", DATA | MODEL),
    "landscape": StageSpec(landscape_task, "landscape", DATA | MODEL),
    "study": StageSpec(study_task, "study", DATA, inputs_optional=True),
}

# The same stages without Prefect, for running one stage of an existing run in a pod (`spotlab stage run`).
STAGE_FUNCTIONS: dict[str, StageFn] = {
    "prep": prep_stage.run,
    "train": train_stage.run,
    "evaluate": evaluate_stage.run,
    "attack": attack_stage.run,
    "prune": prune_stage.run,
    "landscape": landscape_stage.run,
    "study": study_stage.run,
}
