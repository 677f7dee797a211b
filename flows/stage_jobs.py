"""Per-stage jobs: every stage as its own Prefect flow run, and the task through which a pipeline starts them.

Each stage has a single-stage flow (``prep``, ``train``, ...) that runs that stage of an existing run: it takes the
run (store and id), the stage's config section and a seed, and looks its inputs up in the run's manifest with the
same :func:`~spotlab.flows.stages.stage_inputs` as ``spotlab stage run`` and the in-process pipeline. Deployed as
``<stage>/spotlab`` (``flows/deployments.py``), each flow run becomes its own job on the work pool.

With ``execution.stages: deployments`` the pipeline flow calls :func:`run_stage_job` per stage: it starts the
stage's deployment with ``run_deployment`` (a child flow run of the pipeline), the stage's
``execution.resources.<stage>`` as job variables, waits for it, and reads the stage's record back from the
manifest. Only the run handle, the config section and the stage's metrics cross Prefect; artifacts stay in S3.

(No ``from __future__ import annotations`` here: each flow's ``config`` annotation must be the section's class
itself, for Prefect's parameter schema and validation.)
"""

import types
import typing

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from pydantic import BaseModel

from spotlab.flows.stages import STAGES, stage_inputs, stage_seed
from spotlab.infra.config import ConfigError, PipelineConfig
from spotlab.infra.kube.resources import StageResources, job_variables
from spotlab.infra.orchestration import RunHandle
from spotlab.infra.runs import StageResult

DEPLOYMENT_NAME = "spotlab"  # every flow is deployed as "<flow>/spotlab"
POLL_S = 2.0  # how often the waiting pipeline asks Prefect for a stage flow run's state


class StageJobFailed(RuntimeError):
    """A stage's flow run ended in a state other than Completed."""


def section_type(stage: str) -> typing.Any:
    """The config type of ``stage``'s section; optional sections (``X | None`` in the pipeline) without the None."""
    annotation = PipelineConfig.model_fields[STAGES[stage].section].annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    return annotation


def stage_flow(stage: str):
    """The flow that runs ``stage`` of an existing run as its own flow run (its own job when deployed)."""
    spec = STAGES[stage]
    inputs = ", ".join(f"{producer}/{artifact}" for producer, artifact in spec.inputs.values()) or "none"

    def run_one_stage(run: RunHandle, config: section_type(stage), seed: typing.Optional[int] = None,
                      force: bool = False) -> StageResult:
        manifest = run.open().manifest
        return spec.task(run, config, stage_seed(manifest, seed), stage_inputs(stage, manifest.stages), force)

    # The deployment's module-path entrypoint is spotlab.flows.stage_jobs.<__name__>: the module attribute below.
    run_one_stage.__name__ = run_one_stage.__qualname__ = stage
    run_one_stage.__doc__ = (f"Run stage {stage!r} of the existing run ``run``, its inputs ({inputs}) taken from the "
                             "run's manifest; ``seed`` defaults to the run's.")
    return flow(name=stage, validate_parameters=True)(run_one_stage)


prep = stage_flow("prep")
train = stage_flow("train")
evaluate = stage_flow("evaluate")
ood = stage_flow("ood")
attack = stage_flow("attack")
prune = stage_flow("prune")
landscape = stage_flow("landscape")
sensitivity = stage_flow("sensitivity")
federated = stage_flow("federated")
embed = stage_flow("embed")
classify = stage_flow("classify")
study = stage_flow("study")
STAGE_FLOWS = {f.name: f for f in (prep, train, evaluate, ood, attack, prune, landscape, sensitivity, federated,
                                   embed, classify, study)}


def deployment_of(stage: str) -> str:
    return f"{stage}/{DEPLOYMENT_NAME}"


def require_stage_deployments(stages: list[str]) -> None:
    """Fail before anything runs when a stage has no deployment on the Prefect server."""
    missing = []
    with get_client(sync_client=True) as client:
        for stage in stages:
            try:
                client.read_deployment_by_name(deployment_of(stage))
            except ObjectNotFound:
                missing.append(deployment_of(stage))
    if missing:
        raise ConfigError(f"execution.stages='deployments' needs the deployments {missing} on the Prefect server; "
                          "register them with `spotlab deploy` (or use execution.stages='inline')")


@task(cache_policy=NO_CACHE)
def run_stage_job(run: RunHandle, stage: str, config: BaseModel, seed: int, force: bool,
                  resources: StageResources) -> StageResult:
    """Run ``stage`` as a flow run of its deployment with ``resources`` as job variables; wait for it; return the
    stage's record from the run's manifest."""
    flow_run = run_deployment(
        deployment_of(stage),
        parameters={"run": run.model_dump(mode="json"), "config": config.model_dump(mode="json"), "seed": seed,
                    "force": force},
        job_variables=job_variables(resources),
        poll_interval=POLL_S,
        timeout=None,
    )
    if not flow_run.state or not flow_run.state.is_completed():
        state = flow_run.state.name if flow_run.state else "no state"
        message = f": {flow_run.state.message}" if flow_run.state and flow_run.state.message else ""
        raise StageJobFailed(f"stage {stage!r} (flow run {flow_run.name}, {flow_run.id}) ended {state}{message}")
    record = run.open().manifest.stages[stage]
    return StageResult(artifacts=record.artifacts, metrics=record.metrics)
