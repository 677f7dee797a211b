"""The ``ood`` stage in the real pipeline (any trained model in, detector metrics and plots out), config errors
that name the field, and the study's claim verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spotlab.flows.pipeline import pipeline
from spotlab.infra.config import ConfigError, load_config
from spotlab.infra.runs import Run
from spotlab.infra.storage import open_store
from spotlab.tasks.ood.studies import WOODSComparisonConfig

ROOT = Path(__file__).resolve().parents[3]
DIGITS_0_4 = ["data.dataset={kind: digits, classes: [0, 1, 2, 3, 4]}", "train.epochs=3",
              "train.model={kind: mlp, hidden: [32]}"]


def test_ood_stage_fine_tunes_the_trained_model_with_woods(tmp_path, prefect_api):
    config = load_config(ROOT / "examples" / "quickstart.yaml", [
        f"storage.url={tmp_path}", *DIGITS_0_4,
        "ood={wild: {pi: 0.2}, method: {kind: woods}, fine_tune: {epochs: 2}}",
    ])
    result = pipeline(config)
    metrics = result["stages"]["ood"]
    assert {"fpr95", "auroc", "id_accuracy", "false_alarm", "false_alarm_met", "id_loss_met"} <= set(metrics)
    assert 0.0 <= metrics["fpr95"] <= 1.0 and 0.5 < metrics["auroc"] <= 1.0
    run = Run.open(open_store(str(tmp_path)), result["run_id"])
    paths = {a.path for a in run.manifest.artifacts}
    assert {"ood/model.pt", "ood/metrics.json", "ood/history.json", "ood/scores.npz", "ood/histogram.png"} <= paths
    history = json.loads(run.read(run.find("ood/history.json")))
    assert [h["epoch"] for h in history] == [1, 2] and "lam_false_alarm" in history[0]


def test_unknown_ood_method_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match=r"ood\.method\.kind='wood' is unknown.*woods"):
        load_config(ROOT / "examples" / "quickstart.yaml", ["ood={method: {kind: wood}}"])
    with pytest.raises(ConfigError, match=r"ood\.wild\.pi"):
        load_config(ROOT / "examples" / "quickstart.yaml", ["ood={wild: {pi: 1.5}}"])


def test_claim_pis_must_be_measured():
    with pytest.raises(ValueError, match="claim_pis"):
        WOODSComparisonConfig(pis=[0.2], claim_pis=[0.05])


def test_claim_fails_when_the_false_alarm_constraint_is_broken_even_with_a_lower_fpr():
    study = WOODSComparisonConfig()
    woods = [{"fpr95": 0.1, "auroc": 0.9, "id_accuracy": 0.9, "false_alarm": 0.04, "false_alarm_met": True},
             {"fpr95": 0.1, "auroc": 0.9, "id_accuracy": 0.9, "false_alarm": 0.07, "false_alarm_met": False}]
    oe = [{"fpr95": 0.5, "auroc": 0.8, "id_accuracy": 0.9}] * 2
    assert study._claim(0.05, woods, oe).verdict == "fail"
    assert study._claim(0.05, [dict(r, false_alarm_met=True) for r in woods], oe).verdict == "pass"
    assert study._claim(0.05, [dict(r, false_alarm_met=True) for r in woods], woods).verdict == "fail"
