"""Single-stage flows (train, attack, prune, landscape) and the registry of every deployed flow.

Each single-stage flow runs one stage of an existing run as its own Prefect flow run, so a deployment can give
it its own Kubernetes job (e.g. a GPU for train: job variable ``gpu_limit``) while the rest of the pipeline runs
elsewhere. :func:`deployments` builds one deployment per entry of :data:`FLOWS`, in code, with module-path
entrypoints (``spotlab.flows.pipeline.pipeline``): a worker imports the flow from the installed distribution, so
nothing depends on a checkout or a working directory.
"""

from __future__ import annotations

from importlib import metadata

from prefect import flow
from prefect.deployments.runner import EntrypointType, RunnerDeployment

from spotlab.flows.pipeline import pipeline
from spotlab.flows.reproduce import reproduce
from spotlab.flows.stages import STAGES
from spotlab.infra.orchestration import RunHandle
from spotlab.infra.runs import ArtifactRef, StageResult
from spotlab.tasks.attack.config import AttackStageConfig
from spotlab.tasks.landscape.config import LandscapeStageConfig
from spotlab.tasks.prune.config import PruneStageConfig
from spotlab.tasks.train.config import TrainConfig


def _one_stage(stage: str, run: RunHandle, config, seed: int, inputs: dict[str, ArtifactRef], force: bool):
    return STAGES[stage].task(run, config, seed, inputs, force)


@flow(name="train", validate_parameters=True)
def train(run: RunHandle, config: TrainConfig, seed: int = 0, inputs: dict[str, ArtifactRef] | None = None,
          force: bool = False) -> StageResult:
    """Train a model for run ``run`` from its prep artifacts (inputs: splits, info)."""
    return _one_stage("train", run, config, seed, inputs or {}, force)


@flow(name="attack", validate_parameters=True)
def attack(run: RunHandle, config: AttackStageConfig, seed: int = 0, inputs: dict[str, ArtifactRef] | None = None,
           force: bool = False) -> StageResult:
    """Attack run ``run``'s trained model (inputs: splits, info, model)."""
    return _one_stage("attack", run, config, seed, inputs or {}, force)


@flow(name="prune", validate_parameters=True)
def prune(run: RunHandle, config: PruneStageConfig, seed: int = 0, inputs: dict[str, ArtifactRef] | None = None,
          force: bool = False) -> StageResult:
    """Prune run ``run``'s trained model (inputs: splits, info, model)."""
    return _one_stage("prune", run, config, seed, inputs or {}, force)


@flow(name="landscape", validate_parameters=True)
def landscape(run: RunHandle, config: LandscapeStageConfig, seed: int = 0,
              inputs: dict[str, ArtifactRef] | None = None, force: bool = False) -> StageResult:
    """Analyse the loss landscape of run ``run``'s trained model (inputs: splits, info, model)."""
    return _one_stage("landscape", run, config, seed, inputs or {}, force)


FLOWS = {f.name: f for f in (pipeline, reproduce, train, attack, prune, landscape)}
DEPLOYMENT_NAME = "spotlab"  # so the API starts "<flow>/spotlab"


def deployments(names: list[str] | None = None, max_concurrent_runs: int | None = None) -> list[RunnerDeployment]:
    """The deployments of ``names`` (default: every flow), described by their flows' docstrings; with
    ``max_concurrent_runs``, each deployment gets that Prefect concurrency limit (a global concurrency limit that
    Prefect creates for it: runs beyond it wait for a slot instead of starting)."""
    return [
        FLOWS[name].to_deployment(
            name=DEPLOYMENT_NAME,
            description=FLOWS[name].description,
            tags=["spotlab"],
            version=metadata.version("spotlab"),
            entrypoint_type=EntrypointType.MODULE_PATH,
            concurrency_limit=max_concurrent_runs,
        )
        for name in names or FLOWS
    ]
