"""`spotlab stage run`, the command a stage's pod runs, executed as a subprocess with only the environment a
Kubernetes job gives it (the S3 settings under the Secret keys of the work-pool template), against a moto S3
server: proves the command line, the env wiring and the artifact flow — everything but scheduling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
from typer.testing import CliRunner

from spotlab.infra.cli import app as cli
from spotlab.infra.kube.work_pool import S3_SECRET_KEYS
from spotlab.infra.runs import Run
from spotlab.infra.storage import open_store

SPOTLAB = str(Path(sys.executable).with_name("spotlab"))


def pod_env(s3_server: str) -> dict[str, str]:
    secret = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": s3_server,
              "AWS_DEFAULT_REGION": "us-east-1"}
    assert set(secret) == set(S3_SECRET_KEYS)
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "OMP_NUM_THREADS", "DO_NOT_TRACK") if k in os.environ}
    return keep | secret


def stage_run(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([SPOTLAB, "stage", "run", *args], env=env, capture_output=True, text=True, timeout=300)


def test_prep_then_train_in_fresh_processes_with_s3_from_env(s3_bucket, s3_server):
    store = open_store(s3_bucket, s3_server)
    run = Run.create(store, "pod-stages", {"seed": 3}, "pod")
    env = pod_env(s3_server)

    prep = stage_run(env, "prep", "--store", s3_bucket, "--run-id", run.run_id,
                     "--config", json.dumps({"dataset": {"kind": "digits"}}))
    assert prep.returncode == 0, prep.stderr
    assert set(json.loads(prep.stdout)["artifacts"]) == {"splits.npz", "info.json"}

    # The train stage's config as a store key, as a job would get it.
    store.put_bytes("specs/train.json", json.dumps({"model": {"kind": "mlp", "hidden": [8]}, "epochs": 1}).encode())
    train = stage_run(env, "train", "--store", s3_bucket, "--run-id", run.run_id, "--config", "specs/train.json")
    assert train.returncode == 0, train.stderr
    result = json.loads(train.stdout)
    assert result["run_id"] == run.run_id and result["artifacts"]["model.pt"].startswith("objects/")

    manifest = Run.open(store, run.run_id).manifest
    assert set(manifest.stages) == {"prep", "train"}
    model = next(a for a in manifest.artifacts if a.path == "train/model.pt")
    prep = manifest.stages["prep"].artifacts
    assert model.inputs == {"prep/splits.npz": prep["splits.npz"].sha256, "prep/info.json": prep["info.json"].sha256}
    bucket, prefix = s3_bucket.removeprefix("s3://").split("/", 1)
    head = boto3.client("s3", endpoint_url=s3_server).head_object(Bucket=bucket, Key=f"{prefix}/{model.key}")
    assert head["ContentLength"] == model.bytes


def test_bad_input_exits_2_with_the_field_path(s3_bucket, s3_server):
    store = open_store(s3_bucket, s3_server)
    run = Run.create(store, "pod-bad", {"seed": 0}, "pod")
    common = ["--store", s3_bucket, "--run-id", run.run_id, "--endpoint-url", s3_server]
    runner = CliRunner()
    bad = runner.invoke(cli, ["stage", "run", "train", *common, "--config", '{"epochs": 0}'])
    assert bad.exit_code == 2 and "train config" in bad.stderr and "epochs" in bad.stderr
    missing = runner.invoke(cli, ["stage", "run", "train", *common, "--config", "{}"])
    assert missing.exit_code == 2 and "run stage 'prep' first" in missing.stderr
    unknown = runner.invoke(cli, ["stage", "run", "nope", *common, "--config", "{}"])
    assert unknown.exit_code == 2 and "choose one of" in unknown.stderr
    no_run = runner.invoke(cli, ["stage", "run", "prep", "--store", s3_bucket, "--endpoint-url", s3_server,
                                 "--run-id", "20990101-000000.000-000000", "--config", "{}"])
    assert no_run.exit_code == 1 and "no run" in no_run.stderr
