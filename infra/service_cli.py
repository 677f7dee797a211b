"""The production-path commands of ``spotlab``: ``api``, ``stage run`` (one stage in a pod), ``deploy``, ``serve``.

Registered on the main CLI by :func:`register`; flows are imported inside the commands (infra stays importable
without them).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Optional

import typer
from pydantic import TypeAdapter, ValidationError

from spotlab.infra.config import STAGE_ORDER, ConfigError, PipelineConfig, format_validation_error, parse_yaml
from spotlab.infra.run_queue import DEFAULT_MAX_WAITING, MAX_RUNNING_ENV, MAX_WAITING_ENV
from spotlab.infra.runs import Run
from spotlab.infra.settings import default_artifact_url, prefect_api_problem
from spotlab.infra.storage import InvalidKey, StorageError, open_store
from spotlab.infra.terminal import fail, warn

stage_app = typer.Typer(help="Run single stages without Prefect (the command of a stage's Kubernetes pod).",
                        no_args_is_help=True)


def api(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 in a container)."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    store: Optional[str] = typer.Option(None, "--store", help="Artifact store URL (default $SPOTLAB_ARTIFACTS)."),
    endpoint_url: Optional[str] = typer.Option(None, "--endpoint-url", help="S3-compatible endpoint."),
    insecure_no_auth: bool = typer.Option(False, "--insecure-no-auth",
                                          help="Serve without a token (local use only)."),
    max_concurrent_runs: Optional[int] = typer.Option(
        None, "--max-concurrent-runs", min=1, envvar=MAX_RUNNING_ENV,
        help="Local runs executing at once; more wait as 'scheduled' (default: half the CPUs)."),
    max_queued_runs: int = typer.Option(
        DEFAULT_MAX_WAITING, "--max-queued-runs", min=0, envvar=MAX_WAITING_ENV,
        help="Runs waiting to start beyond which POST /runs answers 429 (local queue or a deployment's)."),
) -> None:
    """Serve the REST API (token from $SPOTLAB_API_TOKEN; OpenAPI at /docs)."""
    import uvicorn

    from spotlab.infra.api import DEFAULT_MAX_BODY, MAX_BODY_ENV, TOKEN_ENV, Launcher, create_app

    token = os.environ.get(TOKEN_ENV) or None
    if token is None and not insecure_no_auth:
        fail(f"${TOKEN_ENV} is not set; set it (clients send 'Authorization: Bearer <token>') or pass "
              "--insecure-no-auth for local use", 2)
    if token is None:
        warn("serving without authentication")
    max_body = int(os.environ.get(MAX_BODY_ENV, DEFAULT_MAX_BODY))
    launcher = Launcher(max_running=max_concurrent_runs, max_waiting=max_queued_runs)
    uvicorn.run(create_app(store, endpoint_url, token, max_body, launcher), host=host, port=port, log_level="info")


def _section_config(stage: str, section: str, text: str, run: Run) -> Any:
    """``text`` is the section's config as JSON, or the store key of a JSON/YAML file holding it."""
    raw_text = text if text.lstrip().startswith("{") else run.store.get_bytes(text).decode()
    try:
        raw = json.loads(raw_text)
    except (json.JSONDecodeError, RecursionError):
        raw = parse_yaml(raw_text, f"{stage} config")
    try:
        return TypeAdapter(PipelineConfig.model_fields[section].annotation).validate_python(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(f"{stage} config", raw, exc)) from exc


def execute_one_stage(stage: str, run: Run, config_text: str, seed: int | None, force: bool) -> dict[str, Any]:
    """Run ``stage`` of an existing run with its inputs taken from the run's manifest; returns what it made."""
    from spotlab.flows.stages import STAGES, stage_inputs, stage_seed
    from spotlab.infra.stages import execute_stage

    if stage not in STAGES:
        raise ConfigError(f"stage {stage!r} is unknown; choose one of {sorted(STAGES)}")
    spec = STAGES[stage]
    config = _section_config(stage, spec.section, config_text, run)
    inputs = stage_inputs(stage, run.manifest.stages)
    result = execute_stage(run, stage, config, stage_seed(run.manifest, seed), inputs, spec.run, force=force)
    return {"run_id": run.run_id, "stage": stage, "artifacts": {k: v.key for k, v in result.artifacts.items()},
            "metrics": result.metrics}


@stage_app.command("run")
def stage_run(
    stage: str = typer.Argument(..., help=f"Stage name: {', '.join(STAGE_ORDER)}."),
    run_id: str = typer.Option(..., "--run-id", help="The existing run the stage belongs to."),
    config: str = typer.Option(..., "--config", help="The stage's config section as JSON, or a store key of it."),
    store: Optional[str] = typer.Option(None, "--store", help="Artifact store URL (default $SPOTLAB_ARTIFACTS)."),
    endpoint_url: Optional[str] = typer.Option(None, "--endpoint-url", help="S3-compatible endpoint."),
    seed: Optional[int] = typer.Option(None, min=0, help="Seed (default: the run's)."),
    force: bool = typer.Option(False, "--force", help="Re-run even when the stage's result is cached."),
) -> None:
    """Execute one stage of a run, inputs from its manifest; prints {run_id, stage, artifacts, metrics}."""
    import logging

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    try:
        run = Run.open(open_store(store or default_artifact_url(), endpoint_url), run_id)
    except InvalidKey as exc:
        fail(str(exc), 2)
    except StorageError as exc:
        fail(str(exc), 1)
    try:
        result = execute_one_stage(stage, run, config, seed, force)
    except ConfigError as exc:
        fail(str(exc), 2)
    except StorageError as exc:
        fail(str(exc), 1)
    print(json.dumps(result, default=str))


def deploy(
    pool: str = typer.Option(None, "--pool", envvar="SPOTLAB_WORK_POOL", help="Work pool ($SPOTLAB_WORK_POOL)."),
    image: str = typer.Option(None, "--image", envvar="SPOTLAB_IMAGE", help="Image of the jobs ($SPOTLAB_IMAGE)."),
    max_concurrent_runs: Optional[int] = typer.Option(
        None, "--max-concurrent-runs", min=1, envvar=MAX_RUNNING_ENV,
        help="Prefect concurrency limit of each deployment: more runs wait in AwaitingConcurrencySlot "
        "(default: none beyond the work pool's)."),
) -> None:
    """Register one deployment per flow ("<flow>/spotlab", module-path entrypoints) with PREFECT_API_URL's server,
    on work pool POOL running IMAGE; works from any directory and any install."""
    if not pool or not image:
        fail("deploy needs a work pool and an image: --pool/$SPOTLAB_WORK_POOL and --image/$SPOTLAB_IMAGE", 2)
    if not os.environ.get("PREFECT_API_URL"):
        fail("$PREFECT_API_URL is not set: deployments need a Prefect server (see docs/deploy.md)", 2)
    problem = prefect_api_problem()
    if problem:
        fail(problem, 1)
    from prefect.exceptions import ObjectNotFound

    from spotlab.flows.deployments import deployments

    for deployment in deployments(max_concurrent_runs=max_concurrent_runs):
        try:
            deployment_id = deployment.apply(image=image, work_pool_name=pool)
        except ObjectNotFound:
            fail(f"work pool {pool!r} does not exist on {os.environ['PREFECT_API_URL']}; create it first "
                  "(the Helm chart's worker does)", 1)
        print(f"{deployment.flow_name}/{deployment.name}: {deployment_id} ({deployment.entrypoint})")


def serve(
    flows: Optional[list[str]] = typer.Argument(None, help="Flows to serve (default: every deployed flow)."),
) -> None:
    """Serve the flows from this process (flow.serve for local use: runs start here, no work pool)."""
    from prefect import serve as prefect_serve

    from spotlab.flows.deployments import FLOWS, deployments

    unknown = sorted(set(flows or []) - set(FLOWS))
    if unknown:
        fail(f"unknown flow(s) {unknown}; choose from {sorted(FLOWS)}", 2)
    problem = prefect_api_problem()
    if problem:
        fail(problem, 1)
    prefect_serve(*deployments(flows))


def register(app: typer.Typer) -> None:
    app.command()(api)
    app.command()(deploy)
    app.command()(serve)
    app.add_typer(stage_app, name="stage")
