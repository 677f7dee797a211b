"""Run integrity against real parts: content-addressed artifacts shared safely between runs (moto S3 over HTTP),
stores that move, resumes that cannot mix configs, runs killed with SIGKILL reported crashed, garbage collection,
and corrupt store content answered with one error line."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from typer.testing import CliRunner

from spotlab.flows.pipeline import pipeline
from spotlab.infra import paths
from spotlab.infra.api import create_app, run_state
from spotlab.infra.cli import app
from spotlab.infra.config import PipelineConfig
from spotlab.infra.retention import collect_garbage, remove_run
from spotlab.infra.runs import Run, StageRecord, describe_failure, list_runs
from spotlab.infra.service_cli import execute_one_stage
from spotlab.infra.storage import LocalStore, open_store

SPOTLAB = str(Path(sys.executable).with_name("spotlab"))
TRAIN = {"model": {"kind": "mlp", "hidden": [16]}, "epochs": 2, "batch_size": 64, "checkpoint_every": 1}


def tiny(store_url: str, endpoint_url: str | None = None, **train) -> PipelineConfig:
    return PipelineConfig.model_validate({
        "name": "tiny", "data": {"dataset": {"kind": "digits"}}, "train": TRAIN | train,
        "storage": {"url": store_url, "endpoint_url": endpoint_url},
    })


def invoke(*args, **env):
    return CliRunner(env=env or None).invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_error_line(result) -> bool:
    return (result.stderr.startswith("error:") and "Traceback" not in result.stderr
            and result.stderr.strip().count("\n") <= 1)


def test_cache_hits_survive_forcing_and_removing_the_producer(tmp_path, prefect_api, s3_server, s3_bucket):
    store = open_store(s3_bucket, s3_server)
    producer = pipeline(tiny(s3_bucket, s3_server))["run_id"]
    consumer = pipeline(tiny(s3_bucket, s3_server))["run_id"]
    consumed = Run.open(store, consumer).manifest
    assert all(record.cached for record in consumed.stages.values())
    model = Run.open(store, consumer).find("train/model.pt")
    assert model.cached_from == producer and all(a.key.startswith("objects/") for a in consumed.artifacts)

    # Re-run the producer's train stage with --force and another config: new objects, the consumer's untouched.
    forced = execute_one_stage("train", Run.open(store, producer), json.dumps(TRAIN | {"epochs": 3}), None, True)
    assert forced["artifacts"]["model.pt"] != model.key
    store_args = ("--store", s3_bucket, "--endpoint-url", s3_server)
    got = invoke("artifacts", "get", consumer, "train/model.pt", tmp_path / "model.pt", *store_args)
    assert got.exit_code == 0, got.stderr
    assert hashlib.sha256((tmp_path / "model.pt").read_bytes()).hexdigest() == model.sha256

    # Remove the producer and collect garbage: only what the consumer does not name goes.
    assert invoke("runs", "rm", producer, *store_args).exit_code == 0
    swept = invoke("gc", "--grace-s", "0", *store_args)
    assert swept.exit_code == 0, swept.stderr
    assert not store.exists(forced["artifacts"]["model.pt"]) and store.exists(model.key)
    assert [m.run_id for m in list_runs(store).manifests] == [consumer]
    again = invoke("artifacts", "get", consumer, "train/model.pt", tmp_path / "again.pt", *store_args)
    assert again.exit_code == 0, again.stderr
    assert (tmp_path / "again.pt").read_bytes() == (tmp_path / "model.pt").read_bytes()


def test_a_copied_store_reads_from_its_new_place(tmp_path, prefect_api, s3_server, s3_bucket):
    first = pipeline(tiny(str(tmp_path / "old")))
    shutil.copytree(tmp_path / "old", tmp_path / "moved")
    shutil.rmtree(tmp_path / "old")
    got = invoke("artifacts", "get", first["run_id"], "evaluate/metrics.json", tmp_path / "m.json",
                 "--store", tmp_path / "moved")
    assert got.exit_code == 0, got.stderr
    assert json.loads((tmp_path / "m.json").read_text())["accuracy"] == first["stages"]["evaluate"]["accuracy"]
    reused = Run.open(open_store(str(tmp_path / "moved")), pipeline(tiny(str(tmp_path / "moved")))["run_id"])
    assert all(record.cached for record in reused.manifest.stages.values())  # the moved cache still hits

    # The same for an S3 prefix copied object by object to another prefix.
    source = open_store(s3_bucket, s3_server)
    run = Run.create(source, "s3-copy", {}, "h")
    ref = run.write("prep", "notes.txt", b"moved bytes", "text/plain", "k")
    run.record_stage("prep", StageRecord(artifacts={"notes.txt": ref}, config_hash="h", cache_key="k",
                                         started="t", finished="t"), [])
    client, (bucket, prefix) = boto3.client("s3", endpoint_url=s3_server), s3_bucket[5:].split("/", 1)
    for key in source.list_keys(""):
        client.copy_object(Bucket=bucket, Key=f"elsewhere/{key}", CopySource={"Bucket": bucket, "Key": f"{prefix}/{key}"})
    moved = Run.open(open_store(f"s3://{bucket}/elsewhere", s3_server), run.run_id)
    assert moved.read(moved.find("prep/notes.txt")) == b"moved bytes"


def _prep_and_train(store: LocalStore):
    from spotlab.infra.stages import execute_stage
    from spotlab.tasks.data import stage as prep_stage
    from spotlab.tasks.data.config import DataConfig
    from spotlab.tasks.train import stage as train_stage
    from spotlab.tasks.train.config import TrainConfig

    run = Run.create(store, "resume", {}, "test")
    prep = execute_stage(run, "prep", DataConfig(), 0, {}, prep_stage.run)
    inputs = {"splits": prep.artifacts["splits.npz"], "info": prep.artifacts["info.json"]}

    def train(config: dict, force: bool = False):
        return execute_stage(run, "train", TrainConfig.model_validate(config), 0, inputs, train_stage.run, force=force)

    return run, train


def test_a_changed_train_stage_starts_fresh_and_equals_a_fresh_run(tmp_path, monkeypatch, caplog):
    import spotlab.tasks.train.stage as train_stage

    adam = TRAIN | {"epochs": 3, "optimizer": {"kind": "adam", "lr": 0.01}}
    _, fresh_train = _prep_and_train(LocalStore(tmp_path / "fresh"))
    fresh = fresh_train(adam).artifacts["model.pt"]

    # An SGD attempt dies after writing checkpoints 1 and 2; the retry has another optimizer (its state would not
    # even load) and more epochs: it must start at epoch 0, say why, and end where a fresh run ends.
    starts, real_fit = [], train_stage.fit

    def dying_fit(*args, on_epoch_end, start_epoch=0, **kwargs):
        starts.append(start_epoch)

        def hook(epoch, history):
            on_epoch_end(epoch, history)
            if len(starts) == 1 and epoch == 2:
                raise RuntimeError("worker lost")

        return real_fit(*args, on_epoch_end=hook, start_epoch=start_epoch, **kwargs)

    monkeypatch.setattr(train_stage, "fit", dying_fit)
    run, train = _prep_and_train(LocalStore(tmp_path / "changed"))
    with pytest.raises(RuntimeError, match="worker lost"):
        train(TRAIN | {"epochs": 3})
    assert sorted(Run.open(run.store, run.run_id).manifest.pending["train"].artifacts) == [
        "checkpoints/epoch-0001.pt", "checkpoints/epoch-0002.pt"]
    caplog.set_level("INFO", logger="spotlab.train")
    changed = train(adam).artifacts["model.pt"]
    assert starts == [0, 0] and "starting fresh" in caplog.text
    assert changed.sha256 == fresh.sha256

    # A forced re-run of the finished stage with yet another config does not resume from its final checkpoint.
    longer = adam | {"epochs": 4}
    assert train(longer, force=True).metrics["epoch"] == 4 and starts[-1] == 0
    # The same config again does resume (from epoch 4, so nothing is left to train).
    train(longer, force=True)
    assert starts[-1] == 4


def _wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)
    return value


def test_a_run_killed_mid_train_is_reported_crashed(tmp_path, monkeypatch, live_server):
    config = tmp_path / "long.yaml"
    store_dir = tmp_path / "store"
    config.write_text(json.dumps({"name": "killed", "data": {"dataset": {"kind": "digits"}},
                                  "train": TRAIN | {"epochs": 100000}, "storage": {"url": str(store_dir)}}))
    env = {**os.environ, "SPOTLAB_HEARTBEAT_S": "0.3"}
    env.pop("PREFECT_API_URL", None)
    process = subprocess.Popen([SPOTLAB, "run", str(config)], env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = LocalStore(store_dir)
    try:
        def training():  # the first checkpoint is listed: mid-train
            manifests = list_runs(store).manifests if store_dir.exists() else []
            return manifests and "train" in manifests[0].pending and manifests[0]

        run_id = _wait_for(training, 300, "the run to start training").run_id
        monkeypatch.setenv("SPOTLAB_HEARTBEAT_TIMEOUT_S", "3")
        alive = json.loads(invoke("runs", "ls", "--json", "--store", store_dir).stdout)
        assert [(r["run_id"], r["status"]) for r in alive] == [(run_id, "running")]
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the CLI and the temporary Prefect server it started
        process.wait(30)
    time.sleep(3.5)
    listed = invoke("runs", "ls", "--json", "--store", store_dir)
    assert [(r["run_id"], r["status"]) for r in json.loads(listed.stdout)] == [(run_id, "crashed")]
    assert Run.open(store, run_id).manifest.status == "running"  # the store was not rewritten: it is observed
    with live_server(create_app(str(store_dir))) as client:
        assert client.get(f"/runs/{run_id}").json()["state"] == "crashed"
        assert [r["state"] for r in client.get("/runs").json()] == ["crashed"]
        assert "crashed" in client.get("/openapi.json").json()["components"]["schemas"]["RunStatus"]["properties"][
            "state"]["enum"]


def test_a_failed_run_records_its_cause_without_credentials(tmp_path, prefect_api, monkeypatch):
    import spotlab.tasks.train.stage as train_stage

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-key")

    def broken(*_args, **_kwargs):
        raise ValueError("cannot reach https://user:hunter2@example.com with very-secret-key")

    monkeypatch.setattr(train_stage, "fit", broken)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(tiny(str(tmp_path / "store")).model_dump(mode="json")))
    result = invoke("run", config)
    cause = "ValueError: cannot reach https://***@example.com with ***"
    assert result.exit_code == 1 and result.stderr.strip().splitlines()[-1] == f"error: run failed: {cause}"
    [listed] = json.loads(invoke("runs", "ls", "--json", "--store", tmp_path / "store").stdout)
    assert listed["status"] == "failed" and listed["error"] == cause
    assert "hunter2" not in json.dumps(listed) and "very-secret-key" not in json.dumps(listed)


def test_describe_failure_masks_presigned_signatures():
    text = describe_failure(RuntimeError("GET https://s3/b/k?X-Amz-Credential=AKIA&X-Amz-Signature=abc123 failed"))
    assert "AKIA" not in text and "abc123" not in text and text.startswith("RuntimeError: GET https://s3/b/k?")


def test_the_api_trusts_a_final_manifest_over_the_exit_code():
    manifest = SimpleNamespace(status="completed")
    dead = SimpleNamespace(process=SimpleNamespace(is_alive=lambda: False, exitcode=1), cancelled=False)
    assert run_state(dead, manifest, None) == "completed"
    assert run_state(dead, SimpleNamespace(status="running"), None) == "failed"  # died without recording it


def _object_with_age(store: LocalStore, data: bytes, age_s: float) -> str:
    key = paths.object_key(hashlib.sha256(data).hexdigest())
    store.put_bytes(key, data)
    then = time.time() - age_s
    os.utime(store.root / key, (then, then))
    return key


def test_gc_keeps_referenced_and_young_objects_and_deletes_old_unreferenced_ones(tmp_path):
    store = LocalStore(tmp_path)
    kept = Run.create(store, "kept", {}, "h")
    ref = kept.write("prep", "kept.txt", b"referenced", "text/plain", "k")
    record = StageRecord(artifacts={"kept.txt": ref}, config_hash="h", cache_key="k", started="t", finished="t")
    kept.record_stage("prep", record, [])
    pending = kept.write("train", "checkpoints/epoch-0001.pt", b"in progress", "application/x-pytorch", "k2")
    for key in (ref.key, pending.key):
        os.utime(store.root / key, (0, 0))  # old, but referenced
    old = _object_with_age(store, b"old and unreferenced", 7200)
    young = _object_with_age(store, b"young and unreferenced", 10)
    stale_entry = paths.cache_entry("prep", "gone")
    store.put_bytes(stale_entry, json.dumps({"run_id": "x", "record": {"artifacts": {
        "a": {"sha256": hashlib.sha256(b"old and unreferenced").hexdigest()}}}}).encode())
    os.utime(store.root / stale_entry, (0, 0))

    dry = collect_garbage(store, grace_s=3600, dry_run=True)
    assert dry.deleted == [old] and store.exists(old)
    swept = collect_garbage(store, grace_s=3600)
    assert (swept.deleted, swept.referenced, swept.young) == ([old], 2, 1)
    assert swept.stale_cache_entries == [stale_entry] and not store.exists(stale_entry)
    assert not store.exists(old) and all(store.exists(k) for k in (ref.key, pending.key, young))
    assert Run.open(store, kept.run_id).read(ref) == b"referenced"

    # While any manifest is unreadable, what it references is unknown: gc refuses and names it.
    store.put_bytes(paths.manifest("broken"), b"{")
    refused = invoke("gc", "--store", tmp_path)
    assert refused.exit_code == 1 and one_error_line(refused) and "broken" in refused.stderr


def test_a_live_run_is_not_removed_without_force(tmp_path):
    store = LocalStore(tmp_path)
    run = Run.create(store, "live", {}, "h")  # running, created just now: its heartbeat counts as fresh
    refused = invoke("runs", "rm", run.run_id, "--store", tmp_path)
    assert refused.exit_code == 1 and "is running" in refused.stderr
    assert remove_run(store, run.run_id, force=True) == 1
    assert invoke("runs", "rm", run.run_id, "--store", tmp_path).exit_code == 1  # gone: "no run"


BAD_MANIFESTS = {
    "garbage": b"\x00\xff\xfe not json",
    "empty": b"",
    "a-list": b"[1, 2]",
    "old-layout": json.dumps({"run_id": "old-layout", "artifacts": [{"uri": "/abs/runs/x/model.pt"}]}).encode(),
    "tampered": None,  # a valid manifest whose sha256 was replaced by a path
}


@pytest.fixture
def messy_store(tmp_path):
    store = LocalStore(tmp_path)
    good = Run.create(store, "good", {}, "h")
    ref = good.write("prep", "x.txt", b"fine", "text/plain", "k")
    good.record_stage("prep", StageRecord(artifacts={"x.txt": ref}, config_hash="h", cache_key="k", started="t",
                                          finished="t"), [])
    good.finish("completed")
    for run_id, raw in BAD_MANIFESTS.items():
        if raw is None:
            raw = store.get_bytes(paths.manifest(good.run_id)).replace(good.run_id.encode(), run_id.encode())
            raw = raw.replace(ref.sha256.encode(), b"../../../etc/passwd")
        store.put_bytes(paths.manifest(run_id), raw)
    (tmp_path / "runs" / "a-folder" / "manifest.json").mkdir(parents=True)
    (tmp_path / "runs" / "a-folder" / "manifest.json" / "x").write_text("x")
    (tmp_path / "runs" / "odd näme").mkdir()
    (tmp_path / "runs" / "odd näme" / "manifest.json").write_text("{}")  # not even a valid run id
    return tmp_path, good.run_id


@pytest.mark.parametrize("run_id", [*BAD_MANIFESTS, "a-folder"])
def test_corrupt_runs_are_one_error_line(messy_store, run_id):
    root, _ = messy_store
    for command in (("artifacts", "ls", run_id), ("artifacts", "get", run_id, "prep/x.txt", root / "out.txt")):
        result = invoke(*command, "--store", root)
        assert result.exit_code == 1 and one_error_line(result), result.stderr
        assert run_id in result.stderr
    if run_id == "old-layout":
        assert "old per-run layout" in result.stderr and "new store" in result.stderr


def test_listings_skip_and_report_corrupt_runs(messy_store, live_server):
    root, good = messy_store
    listed = invoke("runs", "ls", "--json", "--store", root)
    assert listed.exit_code == 0
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [good]
    assert all(f"skipped unreadable run {bad}" in listed.stderr for bad in [*BAD_MANIFESTS, "a-folder", "odd näme"])
    with live_server(create_app(str(root))) as client:
        response = client.get("/runs")
        assert response.status_code == 200 and [r["id"] for r in response.json()] == [good]
        assert set(response.headers["x-spotlab-unreadable-runs"].split(",")) == {
            *BAD_MANIFESTS, "a-folder", "odd%20n%C3%A4me"}
        broken = client.get("/runs/garbage")
        assert broken.status_code == 502 and "failed verification" in broken.json()["detail"]
        assert client.get(f"/runs/{good}").json()["state"] == "completed"


def test_odd_arguments_are_one_error_line(messy_store):
    root, good = messy_store
    long_id = invoke("artifacts", "ls", "r" * 300, "--store", root)
    assert long_id.exit_code == 2 and one_error_line(long_id) and "r" * 300 not in long_id.stderr
    no_folder = invoke("artifacts", "get", good, "prep/x.txt", root / "missing" / "x.txt", "--store", root)
    assert no_folder.exit_code == 2 and one_error_line(no_folder) and "does not exist" in no_folder.stderr
    (root / "objects").rename(root / "objects-gone")
    missing = invoke("artifacts", "get", good, "prep/x.txt", root / "x.txt", "--store", root)
    assert missing.exit_code == 1 and one_error_line(missing) and "missing" in missing.stderr


def test_an_unreachable_store_is_named_not_mistaken_for_a_missing_run(tmp_path):
    import socket

    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = invoke("artifacts", "ls", "20990101-000000.000-000000", "--store", "s3://bucket/x", "--endpoint-url", dead)
    assert result.exit_code == 1 and one_error_line(result), result.stderr
    assert "no run" not in result.stderr and dead in result.stderr
