"""The spotlab REST API (FastAPI; OpenAPI at /docs and /openapi.json).

``POST /runs {flow, config}`` validates ``config`` with the same pydantic models as a YAML file, names the run in
advance and starts it: as a Prefect deployment run when ``PREFECT_API_URL`` is set and the flow's deployment
exists (the Kubernetes path), otherwise in a local process. The artifact store is the truth about runs (their
manifests); the API only remembers what it launched, so any replica can answer for any run. Everything but the
health probes needs ``Authorization: Bearer <SPOTLAB_API_TOKEN>``.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import multiprocessing
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError

from spotlab.infra import paths
from spotlab.infra.config import PipelineConfig, StorageConfig, brief, require_discriminators
from spotlab.infra.kube.resources import job_variables
from spotlab.infra.run_queue import QueueFull, RunQueue, default_max_running, default_max_waiting
from spotlab.infra.runs import (ChecksumMismatch, Manifest, NoSuchRun, Run, UnreadableRun, list_runs, new_run_id,
                                observed_state)
from spotlab.infra.settings import default_artifact_url
from spotlab.infra.storage import ArtifactStore, InvalidKey, NotFound, S3Store, StorageError, open_store

log = logging.getLogger("spotlab.api")

TOKEN_ENV = "SPOTLAB_API_TOKEN"
MAX_BODY_ENV = "SPOTLAB_API_MAX_BODY_BYTES"
DEPLOYMENT_ENV = "SPOTLAB_DEPLOYMENT"
DEFAULT_MAX_BODY = 1 << 20
UNREADABLE_HEADER = "X-Spotlab-Unreadable-Runs"
RunState = Literal["scheduled", "running", "completed", "failed", "cancelled", "crashed"]
# Prefect state type → API state.
PREFECT_STATES: dict[str, RunState] = {
    "SCHEDULED": "scheduled", "PENDING": "scheduled", "PAUSED": "scheduled",
    "RUNNING": "running", "COMPLETED": "completed", "FAILED": "failed", "CRASHED": "crashed",
    "CANCELLING": "cancelled", "CANCELLED": "cancelled",
}


class RunRequest(BaseModel, extra="forbid"):
    flow: Literal["pipeline"] = Field(description="Which flow to run.")
    config: PipelineConfig = Field(
        description="The flow's config, the same structure as a YAML config; its storage section is replaced by "
        "the server's artifact store."
    )


class RunCreated(BaseModel):
    id: str = Field(description="Run id (also its folder in the artifact store).")
    state: RunState
    backend: Literal["local", "prefect-deployment"] = Field(description="Where the run executes.")


class StageProgress(BaseModel):
    planned: list[str] = Field(description="Stages the config runs, in order.")
    done: list[str] = Field(description="Stages finished so far.")


class RunStatus(BaseModel):
    id: str
    name: str | None = None
    state: RunState = Field(description="'crashed': the manifest says running but its heartbeat stopped.")
    error: str | None = Field(None, description="Why a failed run failed (exception type and message).")
    created: str | None = None
    stages: StageProgress
    metrics: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Metrics of each finished stage.")
    prefect_flow_run_id: str | None = None


class Problem(BaseModel):
    detail: str = Field(description="What went wrong.")


def _problems(statuses: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses, each answered as ``{"detail": ...}``."""
    return {code: {"model": Problem, "description": text} for code, text in statuses.items()}


# The statuses every authenticated operation may answer besides its own (422 is added by FastAPI).
AUTHENTICATED = _problems({401: "Missing or invalid bearer token.", 503: "The artifact store is unavailable."})


class ArtifactInfo(BaseModel):
    path: str = Field(description="'<stage>/<name>'; download it from /runs/{id}/artifacts/{path}.")
    stage: str
    bytes: int
    sha256: str
    media_type: str


@dataclass
class Submission:
    """A run this API process launched (the store knows the rest)."""

    run_id: str
    name: str
    planned: list[str]
    process: Any = None  # multiprocessing.Process of a local run (None while it waits for a slot)
    config_json: str | None = None  # a local run's config, kept until its process starts
    flow_run_id: str | None = None
    cancelled: bool = False


def _run_pipeline(config_json: str, run_id: str, prefect_api_url: str | None) -> None:
    """Entry point of a local run's process. ``prefect_api_url`` is the API's at submission: the process forks from
    a forkserver whose environment dates from its start."""
    # Cancel sends SIGTERM: unwind normally, so the run is marked failed and the temporary server is stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from spotlab.flows.pipeline import pipeline

    with temporary_settings(updates={PREFECT_API_URL: prefect_api_url} if prefect_api_url else {}):
        pipeline(PipelineConfig.model_validate_json(config_json), run_id=run_id)


class Launcher:
    """Starts, watches and cancels runs: a Prefect deployment run when one is available, else a local process.

    Local runs go through a bounded :class:`RunQueue` (``max_running`` processes, ``max_waiting`` more queued). A
    deployment's runs are bounded by its Prefect concurrency limit; here only the number of its runs waiting to
    start is capped at ``max_waiting``."""

    def __init__(self, deployment: str | None = None, max_running: int | None = None, max_waiting: int | None = None):
        self.deployment = deployment or os.environ.get(DEPLOYMENT_ENV, "spotlab")
        self.max_waiting = default_max_waiting() if max_waiting is None else max_waiting
        # Runs fork from a single-threaded server process that has imported the pipeline once: a run starts in
        # milliseconds instead of re-importing torch and Prefect, and shares those pages with its siblings. (A plain
        # fork of this multi-threaded API process would be unsafe.)
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["spotlab.flows.pipeline"])
        self.local = RunQueue(self._start_local, max_running or default_max_running(), self.max_waiting)

    def _deployment_id(self, flow: str) -> Any:
        if not os.environ.get("PREFECT_API_URL"):
            return None
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        try:
            with get_client(sync_client=True) as client:
                return client.read_deployment_by_name(f"{flow}/{self.deployment}").id
        except ObjectNotFound:
            return None

    def _check_deployment_queue(self, deployment_id: Any) -> None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType

        waiting = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
            any_=[StateType.SCHEDULED, StateType.PENDING])))
        with get_client(sync_client=True) as client:
            deployment = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            count = client.count_flow_runs(flow_run_filter=waiting, deployment_filter=deployment)
        if count >= self.max_waiting:
            raise QueueFull(count)

    def submit(self, flow: str, config: PipelineConfig, submission: Submission) -> str:
        """Start (or queue) the run; raises :class:`QueueFull` when too many runs already wait."""
        deployment_id = self._deployment_id(flow)
        if deployment_id is not None:
            from prefect.deployments import run_deployment

            self._check_deployment_queue(deployment_id)
            variables = job_variables(config.execution.pipeline_resources())
            flow_run = run_deployment(
                deployment_id,
                parameters={"config": config.model_dump(mode="json"), "run_id": submission.run_id},
                job_variables=variables,
                timeout=0,
            )
            submission.flow_run_id = str(flow_run.id)
            return "prefect-deployment"
        submission.config_json = config.model_dump_json()
        self.local.submit(submission)
        return "local"

    def _start_local(self, submission: Submission) -> Any:
        process = self._context.Process(
            target=_run_pipeline, daemon=True,
            args=(submission.config_json, submission.run_id, os.environ.get("PREFECT_API_URL")),
            name=f"spotlab-run-{submission.run_id}",
        )
        process.start()
        submission.process, submission.config_json = process, None
        return process

    def close(self) -> None:
        self.local.close()

    def prefect_state(self, submission: Submission) -> RunState | None:
        if submission.flow_run_id is None:
            return None
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            state = client.read_flow_run(submission.flow_run_id).state
        return PREFECT_STATES.get(state.type.value) if state else None

    def cancel(self, submission: Submission) -> None:
        if submission.flow_run_id is not None:
            from prefect.client.orchestration import get_client
            from prefect.states import Cancelling

            with get_client(sync_client=True) as client:
                client.set_flow_run_state(submission.flow_run_id, Cancelling(), force=True)
        elif not self.local.withdraw(submission) and submission.process is not None and submission.process.is_alive():
            submission.process.terminate()
            submission.process.join(10)
        submission.cancelled = True


def planned_stages(manifest: Manifest) -> list[str]:
    try:
        return PipelineConfig.model_validate(manifest.config).active_stages()
    except ValidationError:  # a run of another flow (e.g. reproduce): what it did is what it planned
        return list(manifest.stages)


def run_state(submission: Submission | None, manifest: Manifest | None, prefect: RunState | None,
              observed: RunState | None = None) -> RunState:
    """``observed`` is the store's view of a manifest still marked running: running, or crashed (stale heartbeat)."""
    # What the run recorded beats its process's exit code and Prefect's view; a cancelled run records a failure
    # (its process unwinds on SIGTERM), which the cancellation explains.
    if manifest is not None and manifest.status == "completed":
        return "completed"
    if submission is not None and submission.cancelled:
        return "cancelled"
    if manifest is not None and manifest.status == "failed":
        return "failed"
    if prefect is not None:
        return prefect
    process = submission.process if submission is not None else None
    if process is not None and not process.is_alive() and process.exitcode != 0:
        return "failed"  # died before or without recording its failure
    if manifest is None:
        return "scheduled"
    return observed or manifest.status


def no_unknown_query_parameters(request: Request) -> None:
    """A misspelt query parameter (``?redirct=1``) is an error, as an unknown config field is, not ignored."""
    known = {param.alias for param in request.scope["route"].dependant.query_params}
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        raise RequestValidationError([
            {"type": "extra_forbidden", "loc": ("query", name), "msg": "Unknown query parameter",
             "input": request.query_params[name]} for name in unknown
        ])


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` (by Content-Length, and by counting when it is absent)."""

    class TooLarge(Exception):
        pass

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def _refuse(self, scope, receive, send) -> None:
        response = JSONResponse({"detail": f"request body over {self.max_bytes} bytes"}, status_code=413)
        await response(scope, receive, send)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await self._refuse(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise BodyLimit.TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except BodyLimit.TooLarge:
            await self._refuse(scope, receive, send)


def create_app(
    store_url: str | None = None,
    endpoint_url: str | None = None,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    launcher: Launcher | None = None,
) -> FastAPI:
    """The API over ``store_url`` (default $SPOTLAB_ARTIFACTS). ``token=None`` disables auth (local use only)."""
    store_url = store_url or default_artifact_url()
    storage = StorageConfig(url=store_url, endpoint_url=endpoint_url)
    launcher = launcher or Launcher()
    submissions: dict[str, Submission] = {}
    lock = threading.Lock()
    bearer = HTTPBearer(auto_error=False, description="SPOTLAB_API_TOKEN")

    def store() -> ArtifactStore:
        return open_store(storage.url, storage.endpoint_url)

    def authorized(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if token is None:
            return
        given = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(given, token.encode()):
            raise HTTPException(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        launcher.close()

    app = FastAPI(title="spotlab", version="0.1.0", description=__doc__, lifespan=lifespan,
                  dependencies=[Depends(no_unknown_query_parameters)])

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = require_discriminators(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    auth = [Depends(authorized)]

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        # FastAPI's own handler echoes each offending input whole, and fails (500) on a NaN it cannot encode.
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"], "input": brief(e.get("input"))}
                  for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(RecursionError)
    async def too_deep(request: Request, exc: RecursionError):
        return JSONResponse({"detail": "request body nested too deeply"}, status_code=400)

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, exc: QueueFull):
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(StorageError)
    async def storage_unavailable(request: Request, exc: StorageError):
        log.warning("storage error on %s: %s", request.url.path, exc)
        return JSONResponse({"detail": "artifact store unavailable"}, status_code=503)

    @app.exception_handler(UnreadableRun)
    async def unreadable_run(request: Request, exc: UnreadableRun):
        log.error("%s", exc)
        return JSONResponse({"detail": "the run's manifest failed verification (corrupt or an old layout)"},
                            status_code=502)

    @app.middleware("http")
    async def internal_error(request: Request, call_next):
        # Handled here rather than by an exception handler, which re-raises to the server: the client gets a
        # plain 500 and keeps its connection; the trace goes to the log only.
        try:
            return await call_next(request)
        except Exception:
            log.exception("unhandled error on %s", request.url.path)
            return JSONResponse({"detail": "internal error"}, status_code=500)

    def open_run(run_id: str) -> Run | None:
        try:
            return Run.open(store(), run_id)
        except (InvalidKey, NoSuchRun):
            return None

    def status(run_id: str, manifest: Manifest | None, ask_prefect: bool, artifact_store: ArtifactStore) -> RunStatus:
        submission = submissions.get(run_id)
        prefect = launcher.prefect_state(submission) if ask_prefect and submission is not None else None
        planned = submission.planned if submission is not None else planned_stages(manifest)
        observed = observed_state(artifact_store, manifest) if manifest is not None else None
        return RunStatus(
            id=run_id,
            name=manifest.name if manifest else submission.name,
            state=run_state(submission, manifest, prefect, observed),
            error=manifest.error if manifest else None,
            created=manifest.created if manifest else None,
            stages=StageProgress(planned=planned, done=list(manifest.stages) if manifest else []),
            metrics={stage: record.metrics for stage, record in manifest.stages.items()} if manifest else {},
            prefect_flow_run_id=submission.flow_run_id if submission else None,
        )

    unknown_query = {422: {"description": "Unknown query parameter."}}

    @app.get("/healthz", tags=["health"], responses=unknown_query)
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses=unknown_query | _problems({503: "A dependency is unreachable."}))
    def readyz() -> dict[str, str]:
        """Readiness: the artifact store (and the Prefect API, when configured) answer."""
        store().exists(paths.manifest("readyz"))
        if prefect_url := os.environ.get("PREFECT_API_URL"):
            import httpx

            try:
                httpx.get(prefect_url.rstrip("/") + "/health", timeout=3).raise_for_status()
            except httpx.HTTPError as exc:
                raise HTTPException(503, "Prefect API unreachable") from exc
        return {"status": "ready"}

    @app.post("/runs", status_code=202, dependencies=auth, tags=["runs"], response_model=RunCreated,
              responses=AUTHENTICATED | _problems({
                  400: "The body is not usable JSON (e.g. nested too deeply).",
                  413: "The body is larger than the server accepts.",
                  429: "Too many runs are waiting to start; retry after the Retry-After header's seconds."}))
    def submit(request: RunRequest) -> RunCreated:
        """Validate and start a run; returns its id at once (poll GET /runs/{id})."""
        config = request.config.model_copy(update={"storage": storage})
        submission = Submission(run_id=new_run_id(), name=config.name, planned=config.active_stages())
        with lock:
            submissions[submission.run_id] = submission
        try:
            backend = launcher.submit(request.flow, config, submission)
        except BaseException:
            with lock:
                submissions.pop(submission.run_id)  # never listed as scheduled forever
            raise
        log.info("run %s submitted (%s)", submission.run_id, backend)
        return RunCreated(id=submission.run_id, state="scheduled", backend=backend)

    @app.get("/runs", dependencies=auth, tags=["runs"], responses=AUTHENTICATED | {200: {"headers": {UNREADABLE_HEADER: {
        "description": "Comma-separated, percent-encoded ids of runs skipped because their manifest is unreadable.",
        "schema": {"type": "string"}}}}})
    def runs(response: Response,
             limit: int = Query(100, ge=1, le=1000, description="At most this many, newest first.")) -> list[RunStatus]:
        """Runs in the artifact store plus runs launched here that have not written a manifest yet (runs whose
        manifest is unreadable are skipped and named in the X-Spotlab-Unreadable-Runs header)."""
        artifact_store = store()
        listing = list_runs(artifact_store)
        if listing.unreadable:
            log.warning("skipped unreadable runs: %s", listing.unreadable)
            # Percent-encoded: a folder name in the store may hold anything, a header may not.
            response.headers[UNREADABLE_HEADER] = ",".join(quote(i, safe="._=+-") for i in sorted(listing.unreadable))
        manifests = {m.run_id: m for m in listing.manifests}
        ids = sorted(set(manifests) | set(submissions), reverse=True)[:limit]
        return [status(run_id, manifests.get(run_id), False, artifact_store) for run_id in ids]

    def known(run_id: str) -> tuple[Run | None, Manifest | None]:
        run = open_run(run_id)
        if run is None and run_id not in submissions:
            raise HTTPException(404, f"no run {run_id!r}")
        return run, run.manifest if run else None

    @app.get("/runs/{run_id}", dependencies=auth, tags=["runs"],
             responses=AUTHENTICATED | _problems({404: "No such run.", 502: "The run's manifest is unreadable."}))
    def get_run(run_id: str) -> RunStatus:
        """State, stage progress and the metrics of finished stages."""
        _, manifest = known(run_id)
        return status(run_id, manifest, True, store())

    @app.post("/runs/{run_id}/cancel", dependencies=auth, tags=["runs"],
              responses=AUTHENTICATED | _problems({404: "No such run.", 409: "Not launched here."}))
    def cancel(run_id: str) -> RunStatus:
        """Cancel a scheduled or running run (one launched through this API)."""
        _, manifest = known(run_id)
        submission = submissions.get(run_id)
        if submission is None:
            raise HTTPException(409, f"run {run_id!r} was not launched through this API process")
        if run_state(submission, manifest, None) in ("scheduled", "running"):
            launcher.cancel(submission)
        return status(run_id, manifest, False, store())

    @app.get("/runs/{run_id}/artifacts", dependencies=auth, tags=["artifacts"],
             responses=AUTHENTICATED | _problems({404: "No such run."}))
    def artifacts(run_id: str) -> list[ArtifactInfo]:
        """The run's artifacts (those of finished stages)."""
        _, manifest = known(run_id)
        return [ArtifactInfo(**a.model_dump(include=set(ArtifactInfo.model_fields)))
                for a in (manifest.artifacts if manifest else [])]

    @app.get("/runs/{run_id}/artifacts/{path:path}", dependencies=auth, tags=["artifacts"],
             responses=AUTHENTICATED | _problems({
                 400: "redirect=1 on a store that is not S3.", 404: "No such run or artifact.",
                 502: "The stored bytes fail their checksum."}) | {
                 200: {"content": {"application/octet-stream": {}}, "description": "The artifact's bytes."},
                 307: {"description": "Presigned S3 URL (redirect=1)."}})
    def artifact(run_id: str, path: str,
                 redirect: bool = Query(False, description="Redirect to a presigned S3 URL instead of streaming.")):
        """The artifact's bytes, verified against the manifest's sha256 (or a presigned URL with ?redirect=1)."""
        run, _ = known(run_id)
        if run is None:
            raise HTTPException(404, f"run {run_id!r} has no artifacts yet")
        try:
            record = run.find(path)
        except StorageError as exc:
            raise HTTPException(404, f"run {run_id!r} has no artifact {path!r}") from exc
        if redirect:
            if not isinstance(run.store, S3Store):
                raise HTTPException(400, "redirect=1 needs an S3 artifact store")
            return RedirectResponse(run.store.presigned_url(record.key), status_code=307)
        try:
            data = run.read(record)
        except ChecksumMismatch as exc:
            log.error("%s", exc)
            raise HTTPException(502, "artifact failed checksum verification") from exc
        except NotFound as exc:
            log.error("%s", exc)
            raise HTTPException(502, "artifact's bytes are missing from the store") from exc
        filename = path.rsplit("/", 1)[-1]
        return Response(data, media_type=record.media_type, headers={
            "X-Checksum-Sha256": record.sha256, "Content-Disposition": f'attachment; filename="{filename}"',
        })

    return app
