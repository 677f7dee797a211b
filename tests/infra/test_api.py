"""The REST API for real: uvicorn on 127.0.0.1, runs executed by the local launcher in their own processes,
artifacts downloaded over HTTP and with `spotlab artifacts get`; an S3 store on a moto server for presigned
redirects; schemathesis over the OpenAPI schema."""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from spotlab.infra.api import Launcher, RunRequest, Submission, create_app
from spotlab.infra.cli import app as cli
from spotlab.infra.runs import Run
from spotlab.infra.storage import open_store

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TINY = {
    "name": "api-tiny",
    "data": {"dataset": {"kind": "digits"}},
    "train": {"model": {"kind": "mlp", "hidden": [16]}, "epochs": 2, "checkpoint_every": 2},
}


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("api-store")


@pytest.fixture(scope="module")
def client(store_dir, monkeypatch_module, live_server):
    monkeypatch_module.delenv("PREFECT_API_URL", raising=False)
    with live_server(create_app(str(store_dir), token=TOKEN, max_body_bytes=64 * 1024)) as http:
        yield http


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def wait_for(client, run_id, states=("completed", "failed", "cancelled"), timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/runs/{run_id}", headers=AUTH).json()
        if body["state"] in states:
            return body
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} still {body['state']} after {timeout}s")


def test_health_probes_need_no_token(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_everything_else_needs_the_bearer_token(client, headers):
    for method, path in [("GET", "/runs"), ("GET", "/runs/x"), ("POST", "/runs/x/cancel"),
                         ("GET", "/runs/x/artifacts"), ("GET", "/runs/x/artifacts/train/model.pt")]:
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.post("/runs", json={"flow": "pipeline", "config": TINY}, headers=headers).status_code == 401


@pytest.mark.parametrize("body, where", [
    ({"flow": "pipeline", "config": {"train": {"epochs": 0}}}, ["body", "config", "train", "epochs"]),
    ({"flow": "pipeline", "config": {"train": {"optimizer": {"kind": "sgdd"}}}}, ["body", "config", "train", "optimizer"]),
    ({"flow": "pipeline", "config": {"trian": {}}}, ["body", "config", "trian"]),
    ({"flow": "nope", "config": {}}, ["body", "flow"]),
    ({"config": {}}, ["body", "flow"]),
    ({"flow": "pipeline", "config": {"stages": ["attack"]}}, ["body", "config"]),
    ({"flow": "pipeline", "config": {"train": {"epochs": True}}}, ["body", "config", "train", "epochs"]),
    ({"flow": "pipeline", "config": {"seed": 2**32}}, ["body", "config", "seed"]),
    ({"flow": "pipeline", "config": {"train": {"model": {"kind": "mlp", "hidden": [0]}}}},
     ["body", "config", "train", "model", "mlp", "hidden", 0]),
    ({"flow": "pipeline", "config": {"storage": {"url": "ftp://host/store"}}}, ["body", "config", "storage", "url"]),
    ({"flow": "pipeline", "config": {"train": {"distributed": {"feedback": {"kind": "def-a"}}}}},
     ["body", "config", "train", "distributed", "feedback", "def-a"]),
])
def test_bad_payloads_are_422_with_field_paths(client, body, where):
    response = client.post("/runs", json=body, headers=AUTH)
    assert response.status_code == 422
    assert any(error["loc"][: len(where)] == where for error in response.json()["detail"]), response.json()


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_in_json_are_422_not_500(client, number):
    body = b'{"flow": "pipeline", "config": {"train": {"optimizer": {"kind": "sgd", "lr": %s}}}}' % number
    response = client.post("/runs", content=body, headers=AUTH | {"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "config", "train", "optimizer", "sgd", "lr"]


def test_error_responses_cut_large_inputs(client):
    response = client.post("/runs", json={"flow": "pipeline", "config": {"name": "x" * 50_000}}, headers=AUTH)
    assert response.status_code == 422 and len(response.text) < 1000


def test_deeply_nested_json_is_a_client_error(client):
    body = b'{"flow": "pipeline", "config": {"profiles": ' + b"[" * 20_000 + b"]" * 20_000 + b"}}"
    response = client.post("/runs", content=body, headers=AUTH | {"Content-Type": "application/json"})
    assert response.status_code == 400, response.text


def test_misspelt_query_parameters_are_refused(client):
    response = client.get("/runs?limt=3", headers=AUTH)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "limt"]


def test_oversized_bodies_are_refused(client):
    response = client.post("/runs", content=b"{" + b" " * (70 * 1024) + b"}", headers=AUTH | {
        "Content-Type": "application/json"})
    assert response.status_code == 413


def test_unknown_runs_and_artifacts_are_404(client):
    assert client.get("/runs/20990101-000000.000-abcdef", headers=AUTH).status_code == 404
    assert client.get("/runs/..%2F..%2Fetc", headers=AUTH).status_code == 404
    assert client.get("/runs/nope/artifacts/train/model.pt", headers=AUTH).status_code == 404


def test_submitted_run_completes_and_its_artifacts_download_over_rest_and_cli(client, store_dir, tmp_path):
    created = client.post("/runs", json={"flow": "pipeline", "config": TINY}, headers=AUTH)
    assert created.status_code == 202, created.text
    run_id = created.json()["id"]
    assert created.json()["backend"] == "local"
    listed = [r["id"] for r in client.get("/runs", headers=AUTH).json()]
    assert run_id in listed

    status = wait_for(client, run_id)
    assert status["state"] == "completed", status
    assert status["stages"] == {"planned": ["prep", "train", "evaluate"], "done": ["prep", "train", "evaluate"]}
    assert 0 <= status["metrics"]["evaluate"]["accuracy"] <= 1

    artifacts = {a["path"]: a for a in client.get(f"/runs/{run_id}/artifacts", headers=AUTH).json()}
    assert {"prep/splits.npz", "train/model.pt", "train/curves.png"} <= set(artifacts)
    download = client.get(f"/runs/{run_id}/artifacts/train/model.pt", headers=AUTH)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == artifacts["train/model.pt"]["sha256"]
    assert download.headers["x-checksum-sha256"] == artifacts["train/model.pt"]["sha256"]
    # The API's store is the one the run used, whatever storage the request body named.
    assert Run.open(open_store(str(store_dir)), run_id).manifest.status == "completed"

    target = tmp_path / "model.pt"
    result = CliRunner().invoke(cli, ["artifacts", "get", run_id, "train/model.pt", str(target),
                                      "--store", str(store_dir)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == download.content
    assert client.get(f"/runs/{run_id}/artifacts/train/model.pt?redirect=1", headers=AUTH).status_code == 400


def test_a_running_run_can_be_cancelled(client, store_dir):
    config = TINY | {"name": "api-long", "train": TINY["train"] | {"epochs": 5000}}
    run_id = client.post("/runs", json={"flow": "pipeline", "config": config}, headers=AUTH).json()["id"]
    wait_for(client, run_id, states=("running",))
    cancelled = client.post(f"/runs/{run_id}/cancel", headers=AUTH)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert client.get(f"/runs/{run_id}", headers=AUTH).json()["state"] == "cancelled"
    # The run's process unwound on SIGTERM and recorded the interruption in its manifest.
    deadline = time.monotonic() + 60
    while Run.open(open_store(str(store_dir)), run_id).manifest.status != "failed":
        assert time.monotonic() < deadline, "the cancelled run never recorded its end"
        time.sleep(0.5)
    assert client.post(f"/runs/{run_id}/cancel", headers=AUTH).json()["state"] == "cancelled"  # idempotent


def test_presigned_redirect_and_streaming_from_s3(s3_bucket, s3_server, live_server):
    store = open_store(s3_bucket, s3_server)
    run = Run.create(store, "s3-run", {}, "hash")
    from spotlab.infra.runs import StageRecord

    ref = run.write("train", "notes.txt", b"hello from s3", "text/plain", "k")
    run.record_stage("train", StageRecord(artifacts={"notes.txt": ref}, config_hash="h", cache_key="k",
                                          started="t", finished="t"), [])
    run.finish("completed")
    app = create_app(s3_bucket, s3_server, token=TOKEN)
    with live_server(app) as http:
        assert http.get(f"/runs/{run.run_id}", headers=AUTH).json()["state"] == "completed"
        streamed = http.get(f"/runs/{run.run_id}/artifacts/train/notes.txt", headers=AUTH)
        assert streamed.content == b"hello from s3" and streamed.headers["content-type"].startswith("text/plain")
        redirect = http.get(f"/runs/{run.run_id}/artifacts/train/notes.txt?redirect=1", headers=AUTH)
        assert redirect.status_code == 307
        assert httpx.get(redirect.headers["location"]).content == b"hello from s3"


class SleepingLauncher(Launcher):
    """Local runs that only sleep: the queue's bookkeeping with real processes, without the cost of real runs."""

    def _start_local(self, submission: Submission):
        submission.process = self._context.Process(target=time.sleep, args=(120,), daemon=True,
                                                   name=f"spotlab-run-{submission.run_id}")
        submission.process.start()
        return submission.process


def test_runs_beyond_the_slots_wait_and_beyond_the_queue_get_429(tmp_path, live_server):
    launcher = SleepingLauncher(max_running=1, max_waiting=1)
    with live_server(create_app(str(tmp_path), token=TOKEN, launcher=launcher)) as http:
        post = lambda: http.post("/runs", json={"flow": "pipeline", "config": TINY}, headers=AUTH)  # noqa: E731
        running, waiting = post().json()["id"], post().json()["id"]
        refused = post()
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        assert launcher.local.running == 1
        assert http.get(f"/runs/{waiting}", headers=AUTH).json()["state"] == "scheduled"
        # Cancelling the waiting run frees its place in the queue; it never starts.
        assert http.post(f"/runs/{waiting}/cancel", headers=AUTH).json()["state"] == "cancelled"
        assert post().status_code == 202
        assert http.post(f"/runs/{running}/cancel", headers=AUTH).json()["state"] == "cancelled"
        deadline = time.monotonic() + 30
        while (launcher.local.running, launcher.local.waiting) != (1, 0):  # the queued run took the freed slot
            assert time.monotonic() < deadline
            time.sleep(0.2)
        for run in http.get("/runs", headers=AUTH).json():
            if run["state"] in ("scheduled", "running"):
                http.post(f"/runs/{run['id']}/cancel", headers=AUTH)


def test_thirty_concurrent_posts_with_two_slots_all_finish(tmp_path, live_server, prefect_api, monkeypatch):
    """Real runs (1-epoch MLP on digits) against the session's Prefect API; never more than two run processes."""
    import multiprocessing
    from concurrent.futures import ThreadPoolExecutor

    from prefect.settings import PREFECT_API_URL

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())  # the runs' processes report to the harness
    launcher = Launcher(deployment="not-deployed", max_running=2, max_waiting=30)
    config = TINY | {"name": "api-queue", "train": TINY["train"] | {"epochs": 1, "checkpoint_every": 1}}
    with live_server(create_app(str(tmp_path), token=TOKEN, launcher=launcher)) as http:
        with ThreadPoolExecutor(30) as pool:
            created = list(pool.map(lambda _: http.post("/runs", json={"flow": "pipeline", "config": config},
                                                        headers=AUTH), range(30)))
        assert [r.status_code for r in created] == [202] * 30
        ids, most_alive = [r.json()["id"] for r in created], 0
        deadline = time.monotonic() + 900
        while True:
            alive = [p for p in multiprocessing.active_children() if p.name.startswith("spotlab-run-")]
            most_alive = max(most_alive, len(alive))
            states = [run["state"] for run in http.get("/runs", headers=AUTH).json() if run["id"] in ids]
            if len(states) == 30 and all(s in ("completed", "failed", "cancelled") for s in states):
                break
            assert time.monotonic() < deadline, states
            time.sleep(0.5)
    assert states == ["completed"] * 30
    assert most_alive <= 2  # memory stays bounded by the slots: two run processes at most


class RecordingLauncher(Launcher):
    """Launches nothing (schema fuzzing must not start real runs)."""

    def __init__(self):
        super().__init__()
        self.submitted: list[str] = []

    def submit(self, flow, config, submission: Submission) -> str:
        self.submitted.append(submission.run_id)
        return "local"


def test_internal_errors_carry_no_stack_trace(tmp_path, live_server):
    class Exploding(RecordingLauncher):
        def submit(self, flow, config, submission):
            raise RuntimeError("secret internals at /srv/app.py line 42")

    with live_server(create_app(str(tmp_path), token=TOKEN, launcher=Exploding())) as http:
        response = http.post("/runs", json={"flow": "pipeline", "config": TINY}, headers=AUTH)
        assert http.get("/runs", headers=AUTH).json() == []  # the failed submission is not left behind
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert "secret internals" not in response.text and "Traceback" not in response.text


def _only_cross_field_objections(body) -> bool:
    """The schema states every per-field rule (ranges, patterns, kinds; tests/infra/test_inputs.py checks the
    specific ones); rules that relate two fields live in model validators, which raise ``value_error``s. JSON
    Schema cannot compare two values, and the conjunctions that could state the rest (e.g. one if/then per optional
    stage for "stages need their sections") outgrow schemathesis' canonicaliser (docs/deploy.md). A generated body
    is skipped only when such rules are its sole objections."""
    try:
        RunRequest.model_validate(body)
    except ValidationError as exc:
        return all(e["type"] == "value_error" for e in exc.errors())
    return False


def test_schemathesis_finds_no_failure_of_any_kind_against_the_real_server(tmp_path, live_server):
    """Every schemathesis check (server errors, undocumented statuses, response schemas, schema-valid data refused,
    schema-invalid data accepted, ...) on positive and negative cases, over HTTP against uvicorn."""
    import schemathesis
    from hypothesis import HealthCheck, assume, given, settings
    from schemathesis.generation import GenerationMode

    launcher = RecordingLauncher()
    failures, called = [], set()
    with live_server(create_app(str(tmp_path), token=TOKEN, launcher=launcher)) as http:
        schema = schemathesis.openapi.from_url(f"{http.base_url}/openapi.json")
        for mode in GenerationMode:
            for operation in schema.get_all_operations():
                operation = operation.ok()
                if mode is GenerationMode.NEGATIVE and not operation.path.startswith("/runs"):
                    continue  # the probes take no input at all: there is nothing to make invalid

                @settings(max_examples=20, deadline=None, database=None, derandomize=True,
                          suppress_health_check=list(HealthCheck))
                @given(case=operation.as_strategy(generation_mode=mode))
                def check(case):
                    if mode is GenerationMode.POSITIVE and case.path == "/runs" and case.method == "POST":
                        assume(not _only_cross_field_objections(case.body))
                    response = case.call_and_validate(headers=AUTH)
                    called.add((mode, case.method, case.path, response.status_code))

                try:
                    check()
                except Exception as exc:  # schemathesis raises a group of every distinct failure it found
                    failures.append(f"{mode.value} {operation.method.upper()} {operation.path}: {exc}"[:3000])
    assert failures == [], "\n\n".join(failures)
    assert len({(method, path) for _, method, path, _ in called}) == 8  # every operation was exercised
    assert any(status == 202 for *_, status in called) and launcher.submitted  # valid runs were generated too
