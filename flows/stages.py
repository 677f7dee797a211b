"""The stage registry: each pipeline stage's Prefect task, config section and the inputs it takes from earlier
stages (input name → (producing stage, artifact name)), and :func:`stage_inputs`, the one place those inputs are
looked up (in a pipeline's finished stages, or in a run's manifest)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from spotlab.infra.config import ConfigError
from spotlab.infra.runs import ArtifactRef, Manifest, StageResult

from spotlab.infra.stages import StageFn
from spotlab.tasks.attack import stage as attack_stage
from spotlab.tasks.attack.task import attack_task
from spotlab.tasks.data import stage as prep_stage
from spotlab.tasks.data.task import prep_task
from spotlab.tasks.evaluate import stage as evaluate_stage
from spotlab.tasks.evaluate.task import evaluate_task
from spotlab.tasks.federated import stage as federated_stage
from spotlab.tasks.federated.task import federated_task
from spotlab.tasks.graph import stage as graph_stage
from spotlab.tasks.graph.task import classify_task, embed_task
from spotlab.tasks.landscape import stage as landscape_stage
from spotlab.tasks.landscape.task import landscape_task
from spotlab.tasks.ood import stage as ood_stage
from spotlab.tasks.ood.task import ood_task
from spotlab.tasks.neural import stage as sensitivity_stage
from spotlab.tasks.neural.task import sensitivity_task
from spotlab.tasks.prune import stage as prune_stage
from spotlab.tasks.prune.task import prune_task
from spotlab.tasks.study import stage as study_stage
from spotlab.tasks.study.task import study_task
from spotlab.tasks.train import stage as train_stage
from spotlab.tasks.train.task import train_task

DATA = {"splits": ("prep", "splits.npz"), "info": ("prep", "info.json")}
MODEL = {"model": ("train", "model.pt")}
GRAPH_EMBEDDINGS = {"embeddings": ("embed", "embeddings.npz")}


@dataclass(frozen=True)
class StageSpec:
    task: object  # the Prefect task (tasks/<family>/task.py)
    run: StageFn  # the same stage without Prefect (`spotlab stage run` in a pod)
    section: str
    inputs: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Inputs whose producer did not run are left out instead of failing (the stage decides if it needs them).
    inputs_optional: bool = False


STAGES: dict[str, StageSpec] = {
    "prep": StageSpec(prep_task, prep_stage.run, "data"),
    "train": StageSpec(train_task, train_stage.run, "train", DATA),
    "evaluate": StageSpec(evaluate_task, evaluate_stage.run, "evaluate", DATA | MODEL),
    "ood": StageSpec(ood_task, ood_stage.run, "ood", DATA | MODEL),
    "attack": StageSpec(attack_task, attack_stage.run, "attack", DATA | MODEL),
    "prune": StageSpec(prune_task, prune_stage.run, "prune", DATA | MODEL),
    "landscape": StageSpec(landscape_task, landscape_stage.run, "landscape", DATA | MODEL),
    "sensitivity": StageSpec(sensitivity_task, sensitivity_stage.run, "sensitivity", DATA | MODEL),
    "federated": StageSpec(federated_task, federated_stage.run, "federated", DATA),
    "embed": StageSpec(embed_task, graph_stage.run_embed, "embed"),
    "classify": StageSpec(classify_task, graph_stage.run_classify, "classify", GRAPH_EMBEDDINGS),
    "study": StageSpec(study_task, study_stage.run, "study", DATA, inputs_optional=True),
}


def stage_inputs(stage: str, produced: Mapping[str, StageResult]) -> dict[str, ArtifactRef]:
    """The input references of ``stage`` among what earlier stages ``produced`` (a pipeline's finished stages, or
    a run manifest's ``stages``)."""
    spec = STAGES[stage]
    inputs = {}
    for name, (producer, artifact) in spec.inputs.items():
        record = produced.get(producer)
        if record is None or artifact not in record.artifacts:
            if spec.inputs_optional:
                continue
            raise ConfigError(f"stage {stage!r} needs {producer}/{artifact}, which the run does not have: run stage "
                              f"{producer!r} first (in a pipeline: list it in stages)")
        inputs[name] = record.artifacts[artifact]
    return inputs


def stage_seed(manifest: Manifest, seed: int | None) -> int:
    """``seed``, or by default the run's own (what a stage run outside the pipeline gets)."""
    return manifest.config.get("seed", 0) if seed is None else seed
