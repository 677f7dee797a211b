"""The sensitivity stage in the real pipeline: the trained model is the student of the brain stand-in."""

from __future__ import annotations

import json
from pathlib import Path

from spotlab.flows.pipeline import pipeline
from spotlab.infra.config import load_config
from spotlab.infra.runs import Run
from spotlab.infra.storage import open_store

ROOT = Path(__file__).resolve().parents[2]


def test_sensitivity_stage_writes_the_sweep_and_its_figure(tmp_path, prefect_api):
    config = load_config(ROOT / "examples" / "quickstart.yaml", [
        f"storage.url={tmp_path}", "train.epochs=2", "train.model={kind: mlp, hidden: [32]}",
        "sensitivity.brain={teacher: {model: {kind: mlp, hidden: [32]}, epochs: 2}, n_sites: 4}",
        "sensitivity.attack={steps: 4, restarts: 1, random_draws: 4}", "sensitivity.eps=[0.25, 0.5]",
        "sensitivity.n_images=4",
    ])
    assert config.active_stages() == ["prep", "train", "evaluate", "sensitivity"]
    result = pipeline(config)
    run = Run.open(open_store(str(tmp_path)), result["run_id"])
    written = json.loads(run.read(run.find("sensitivity/sensitivity.json")))
    assert [row["eps"] for row in written["rows"]] == [0.25, 0.5]
    assert len(written["details"]["predictivity"]) == 4 and len(written["details"]["sites"]) == 4
    for row in written["rows"]:
        assert row["random"] <= row["white_box"]
    metrics = result["stages"]["sensitivity"]
    assert metrics["eps=0.5"]["transfer"] == written["rows"][1]["transfer"]
    assert {"sensitivity/sensitivity.md", "sensitivity/sensitivity.png"} <= {a.path for a in run.manifest.artifacts}
