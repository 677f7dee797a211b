"""The pipeline flow for real (Prefect test API): quickstart quality, caching, forced re-runs, resume, determinism."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from spotlab.flows.pipeline import pipeline
from spotlab.infra.config import load_config
from spotlab.infra.runs import Run
from spotlab.infra.storage import open_store

ROOT = Path(__file__).resolve().parents[2]


def tiny(tmp_path, **train):
    overrides = [f"storage.url={tmp_path / 'store'}", "train.epochs=3", "train.checkpoint_every=1",
                 "train.model={kind: mlp, hidden: [32]}"] + [f"train.{k}={v}" for k, v in train.items()]
    return load_config(ROOT / "examples" / "quickstart.yaml", overrides)


def model_state(store_url, result):
    run = Run.open(open_store(store_url), result["run_id"])
    payload = torch.load(io.BytesIO(run.read(run.find("train/model.pt"))), weights_only=True)
    return payload["state_dict"]


def test_quickstart_config_reaches_the_promised_accuracy(tmp_path, prefect_api):
    config = load_config(ROOT / "examples" / "quickstart.yaml", [f"storage.url={tmp_path}"])
    result = pipeline(config)
    assert result["stages"]["evaluate"]["accuracy"] >= 0.9
    manifest = Run.open(open_store(str(tmp_path)), result["run_id"]).manifest
    assert manifest.status == "completed" and set(manifest.stages) == {"prep", "train", "evaluate"}
    train = next(a for a in manifest.artifacts if a.path == "train/model.pt")
    prep = manifest.stages["prep"].artifacts
    assert train.inputs == {"prep/splits.npz": prep["splits.npz"].sha256, "prep/info.json": prep["info.json"].sha256}
    assert {"train/curves.png", "train/metrics.json"} <= {a.path for a in manifest.artifacts}


def test_unchanged_stages_are_reused_and_force_reruns(tmp_path, prefect_api):
    config = tiny(tmp_path)
    first = pipeline(config)
    second = pipeline(config)
    manifest = Run.open(open_store(config.storage.url), second["run_id"]).manifest
    assert all(record.cached for record in manifest.stages.values())
    assert {a.cached_from for a in manifest.artifacts} == {first["run_id"]}
    assert second["stages"] == first["stages"]

    changed = tiny(tmp_path, epochs=4)  # prep is unchanged, train and evaluate are not
    third = Run.open(open_store(config.storage.url), pipeline(changed)["run_id"]).manifest
    assert [s for s, r in third.stages.items() if r.cached] == ["prep"]

    forced = Run.open(open_store(config.storage.url), pipeline(config, force=True)["run_id"]).manifest
    assert not any(record.cached for record in forced.stages.values())


def test_training_is_bit_for_bit_repeatable(tmp_path, prefect_api):
    a = pipeline(tiny(tmp_path / "a"))
    b = pipeline(tiny(tmp_path / "b"))
    sa, sb = model_state(tmp_path / "a" / "store", a), model_state(tmp_path / "b" / "store", b)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_retried_train_stage_resumes_from_its_checkpoint(tmp_path, prefect_api, monkeypatch):
    import spotlab.tasks.train.stage as train_stage

    reference = pipeline(tiny(tmp_path / "ref"))
    real_fit = train_stage.fit
    attempts = []

    def flaky_fit(*args, on_epoch_end, start_epoch=0, **kwargs):
        attempts.append(start_epoch)

        def hook(epoch, history):
            on_epoch_end(epoch, history)
            if len(attempts) == 1 and epoch == 2:
                raise RuntimeError("worker lost")

        return real_fit(*args, on_epoch_end=hook, start_epoch=start_epoch, **kwargs)

    monkeypatch.setattr(train_stage, "fit", flaky_fit)
    config = tiny(tmp_path / "flaky").model_copy(
        update={"execution": tiny(tmp_path).execution.model_copy(update={"retries": 1, "retry_delay_s": 0})}
    )
    resumed = pipeline(config)
    assert attempts == [0, 2]  # the retry started after the last checkpoint, not from scratch
    a, b = model_state(tmp_path / "ref" / "store", reference), model_state(tmp_path / "flaky" / "store", resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)  # and resuming changed nothing


def test_a_failed_stage_marks_the_run_failed(tmp_path, prefect_api, monkeypatch):
    import spotlab.tasks.evaluate.stage as evaluate_stage

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(evaluate_stage, "classification_metrics", broken)
    config = tiny(tmp_path)
    with pytest.raises(RuntimeError, match="boom"):
        pipeline(config)
    [manifest] = __import__("spotlab.infra.runs", fromlist=["list_runs"]).list_runs(open_store(config.storage.url)).manifests
    assert manifest.status == "failed" and "evaluate" not in manifest.stages
    assert manifest.error == "RuntimeError: boom"  # the cause, as the process saw it
