"""The REST API for real: uvicorn on 127.0.0.1, runs executed by the local launcher in their own processes,
artifacts downloaded over HTTP and with `spotlab artifacts get`; an S3 store on a moto server for presigned
redirects; schemathesis over the OpenAPI schema."""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest
from typer.testing import CliRunner

from spotlab.infra.api import Launcher, Submission, create_app
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
])
def test_bad_payloads_are_422_with_field_paths(client, body, where):
    response = client.post("/runs", json=body, headers=AUTH)
    assert response.status_code == 422
    assert any(error["loc"][: len(where)] == where for error in response.json()["detail"]), response.json()


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


def test_openapi_schema_fuzzing_finds_no_server_errors(tmp_path):
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    launcher = RecordingLauncher()
    app = create_app(str(tmp_path), token=TOKEN, launcher=launcher)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures, called = [], set()
    for operation in schema.get_all_operations():
        operation = operation.ok()

        @settings(max_examples=15, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(headers=AUTH)
            called.add((case.method, case.path, response.status_code))
            if response.status_code >= 500:
                failures.append((case.method, case.formatted_path, response.status_code, response.text[:200]))

        check()
    assert failures == []
    operations = {(method, path) for method, path, _ in called}
    assert len(operations) == 8, operations  # every operation was exercised
    assert any(status == 202 for _, _, status in called) and launcher.submitted  # valid runs were generated too
