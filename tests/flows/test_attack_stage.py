"""The attack stage in the real pipeline: it attacks the trained model and writes the robustness table."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from spotlab.flows.pipeline import pipeline
from spotlab.infra.config import load_config
from spotlab.infra.runs import Run
from spotlab.infra.storage import open_store

ROOT = Path(__file__).resolve().parents[2]


def test_attack_stage_writes_table_examples_and_figure(tmp_path, prefect_api):
    attacks = "[{kind: pgd, eps: 0.1, steps: 5}, {kind: apgd, eps: 0.1, steps: 5, loss: dlr}, " \
              "{kind: cgd, eps: 0.125, steps: 5, quantization: 16}]"
    config = load_config(ROOT / "examples" / "quickstart.yaml", [
        f"storage.url={tmp_path}", "train.epochs=3", "train.model={kind: mlp, hidden: [32]}",
        f"attack.attacks={attacks}", "attack.n_examples=40",
        "attack.random_perturbations={eps: 0.1, draws: 10, rhos: [0.1, 0.01]}",
    ])
    result = pipeline(config)
    run = Run.open(open_store(str(tmp_path)), result["run_id"])
    table = json.loads(run.read(run.find("attack/table.json")))
    assert [row["kind"] for row in table] == ["pgd", "apgd", "cgd"]
    for row in table:
        assert row["n"] == 40 and 0 <= row["robust_accuracy"] <= row["clean_accuracy"] + 1e-9
        assert row["mean_linf"] <= row["eps"] + 1e-6
    assert table[0]["robust_accuracy"] == result["stages"]["attack"]["0.pgd"]["robust_accuracy"]
    with np.load(io.BytesIO(run.read(run.find("attack/examples.npz")))) as arrays:
        assert arrays["1.x_adv"].shape == (40, 1, 8, 8) and arrays["2.target"].min() >= 0
    assert {"attack/table.md", "attack/examples.png"} <= {a.path for a in run.manifest.artifacts}
    assert isinstance(result["stages"]["attack"]["sanity_warnings"], list)  # the checks ran and are reported
    assert "Sanity checks" in run.read(run.find("attack/table.md")).decode()
    random = json.loads(run.read(run.find("attack/random.json")))
    assert random["prob_acc@0.1"] >= random["prob_acc@0.01"] and 0 <= random["augmented_accuracy"] <= 1
    assert random == result["stages"]["attack"]["random"]
