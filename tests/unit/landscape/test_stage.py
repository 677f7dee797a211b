"""The ``landscape`` stage in the real pipeline: it analyses the trained model and writes tables and plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spotlab.flows.pipeline import pipeline
from spotlab.infra.config import ConfigError, load_config
from spotlab.infra.runs import Run
from spotlab.infra.storage import open_store

ROOT = Path(__file__).resolve().parents[3]


def test_landscape_stage_analyses_a_sam_trained_model(tmp_path, prefect_api):
    config = load_config(ROOT / "examples" / "quickstart.yaml", [
        f"storage.url={tmp_path}", "train.epochs=2", "train.model={kind: mlp, hidden: [16]}",
        "train.optimizer={kind: sam, rho: 0.05, base: {kind: sgd, lr: 0.05}}",
        "landscape={max_examples: 64, analyses: [{kind: hessian, iterations: 3, trace_samples: 2}, "
        "{kind: sharpness, m: [8, 64], steps: 1}, {kind: flatness, sigmas: [0.1, 0.5], samples: 2}]}",
    ])
    result = pipeline(config)
    metrics = result["stages"]["landscape"]
    assert metrics["examples"] == 64 and metrics["hessian.top_eigenvalue"] > 0
    assert {"sharpness.m8", "sharpness.m64", "flatness.delta_error@0.5"} <= set(metrics)
    run = Run.open(open_store(str(tmp_path)), result["run_id"])
    paths = {a.path for a in run.manifest.artifacts}
    assert {"landscape/landscape.json", "landscape/landscape.md", "landscape/hessian.png",
            "landscape/sharpness.png", "landscape/flatness.png"} <= paths
    tables = json.loads(run.read(run.find("landscape/landscape.json")))
    assert [row["m"] for row in tables["sharpness"]] == [8, 64]


def test_each_analysis_kind_may_appear_once():
    with pytest.raises(ConfigError, match="twice"):
        load_config(ROOT / "examples" / "quickstart.yaml", ["landscape={analyses: [{kind: hessian}, {kind: hessian}]}"])
