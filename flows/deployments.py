"""The registry of every deployed flow: the pipeline, reproduce, and one single-stage flow per stage.

Each single-stage flow (``flows/stage_jobs.py``) runs one stage of an existing run as its own Prefect flow run,
so its deployment gives it its own Kubernetes job (e.g. a GPU for train: job variable ``gpu_limit``); a pipeline
with ``execution.stages: deployments`` starts them. :func:`deployments` builds one deployment per entry of
:data:`FLOWS`, in code, with module-path entrypoints (``spotlab.flows.pipeline.pipeline``): a worker imports the
flow from the installed distribution, so nothing depends on a checkout or a working directory.
"""

from __future__ import annotations

from importlib import metadata

from prefect.deployments.runner import EntrypointType, RunnerDeployment

from spotlab.flows.pipeline import pipeline
from spotlab.flows.reproduce import reproduce
from spotlab.flows.stage_jobs import DEPLOYMENT_NAME, STAGE_FLOWS


FLOWS = {f.name: f for f in (pipeline, reproduce, *STAGE_FLOWS.values())}


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
