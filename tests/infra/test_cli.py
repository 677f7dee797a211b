"""The CLI end to end (in-process, against the session's Prefect test API): exit codes, messages, outputs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from spotlab.infra.cli import app

TINY = """
name: tiny
data: {dataset: {kind: digits}}
train: {model: {kind: mlp, hidden: [32]}, epochs: 2, batch_size: 64, checkpoint_every: 1}
"""


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_validate_rejects_a_broken_file_and_writes_nothing(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: 0\n  optimizer: {kind: sgd, lr: -1}\n")
    for command in ("validate", "run"):
        result = cli(command, bad)
        assert result.exit_code == 2
        assert "bad.yaml" in result.stderr
        assert "train.epochs" in result.stderr and "train.optimizer.lr" in result.stderr
    assert not (tmp_path / "spotlab-artifacts").exists()


def test_validate_accepts_the_quickstart(cli):
    from pathlib import Path

    quickstart = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"
    result = cli("validate", quickstart)
    assert result.exit_code == 0, result.stderr
    assert "stages: prep, train, evaluate" in result.stdout


def test_schema(cli):
    result = cli("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False and "train" in schema["properties"]
    assert cli("schema", "nope").exit_code == 2


def test_run_json_then_list_and_fetch_artifacts(cli, tmp_path, prefect_api):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    result = cli("run", config, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)  # stdout holds exactly one JSON object; logs went to stderr
    assert set(summary) == {"run_id", "artifact_url", "stages"}
    assert set(summary["stages"]) == {"prep", "train", "evaluate"}
    assert 0.5 < summary["stages"]["evaluate"]["accuracy"] <= 1.0

    listing = cli("artifacts", "ls", summary["run_id"], "--json")
    assert listing.exit_code == 0
    paths = {a["path"]: a for a in json.loads(listing.stdout)}
    assert {"prep/splits.npz", "train/model.pt", "train/checkpoints/epoch-0002.pt", "evaluate/metrics.json"} <= set(paths)
    assert all(len(a["sha256"]) == 64 for a in paths.values())

    got = cli("artifacts", "get", summary["run_id"], "evaluate/metrics.json", tmp_path / "m.json")
    assert got.exit_code == 0
    assert json.loads((tmp_path / "m.json").read_text())["accuracy"] == summary["stages"]["evaluate"]["accuracy"]

    runs = cli("runs", "ls", "--json")
    assert [r["run_id"] for r in json.loads(runs.stdout)] == [summary["run_id"]]


@pytest.mark.parametrize("run_id", ["../../etc", "a/b", "..", "nope"])
def test_bad_run_ids(cli, run_id):
    result = cli("artifacts", "ls", run_id)
    assert result.exit_code in (1, 2)
    assert result.exit_code == (1 if run_id == "nope" else 2)


def test_pipeline_against_s3(cli, tmp_path, prefect_api, s3_server, s3_bucket):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    result = cli("run", config, "--json", "--set", f"storage.url={s3_bucket}",
                 "--set", f"storage.endpoint_url={s3_server}")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["artifact_url"].startswith(s3_bucket + "/runs/")
    listing = cli("artifacts", "ls", summary["run_id"], "--store", s3_bucket, "--endpoint-url", s3_server, "--json")
    assert "train/model.pt" in {a["path"] for a in json.loads(listing.stdout)}
    assert not (tmp_path / "spotlab-artifacts").exists()


def test_unreachable_s3_exits_non_zero(cli, tmp_path, prefect_api):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    result = cli("run", config, "--set", "storage.url=s3://bucket/x", "--set", "storage.endpoint_url=http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "after retries" in result.stderr


def test_reproduce_without_configs_says_so(cli, tmp_path):
    result = cli("reproduce", "--papers-dir", tmp_path / "empty", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
    assert "no reproduction configs" in result.stderr


def test_unreachable_prefect_api_is_one_error_line_naming_it(cli, tmp_path, monkeypatch):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # the discard port: nothing listens
    result = cli("run", config)
    assert result.exit_code == 1
    assert result.stderr.startswith("error:") and "PREFECT_API_URL=http://127.0.0.1:9/api" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") <= 2  # one (soft-wrapped) message
    assert not (tmp_path / "spotlab-artifacts").exists()


def test_bundled_examples_are_listed_and_usable_by_name(cli):
    listed = cli("examples")
    assert listed.exit_code == 0
    assert {"quickstart", "papers/def"} <= set(listed.stdout.split())
    assert cli("validate", "papers/def").exit_code == 0
    assert cli("validate", "../quickstart").exit_code == 2  # names never leave the examples folder


def test_progress_and_per_epoch_lines_follow_the_verbosity(cli, tmp_path, prefect_api):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    quiet = cli("run", config, "--json")
    assert quiet.exit_code == 0, quiet.stderr
    assert "stage train: running" in quiet.stderr and "epoch 1:" not in quiet.stderr
    verbose = cli("run", config, "--force", "-v")
    assert verbose.exit_code == 0, verbose.stderr
    assert "epoch 1: " in verbose.stderr and "epoch 2: " in verbose.stderr
