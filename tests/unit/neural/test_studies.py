"""The neural-robustness claim check in a tiny version, and its reproduction config."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from spotlab.infra.config import load_config
from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.neural.studies import NeuralRobustnessConfig

ROOT = Path(__file__).resolve().parents[3]


def test_tiny_neural_robustness_study():
    tiny = NeuralRobustnessConfig(
        brain={"teacher": {"model": {"kind": "mlp", "hidden": [32]}, "optimizer": {"kind": "adam"}, "epochs": 2},
               "n_sites": 4, "poisson_gain": 10},
        student={"kind": "mlp", "hidden": [32]}, epochs=2, train_steps=2, claim_eps=0.5, seeds=1,
        sensitivity={"attack": {"steps": 4, "restarts": 1, "random_draws": 4}, "eps": [0.25, 0.5], "n_images": 4})
    report = tiny.run(prepare(DataConfig(), 0), seed=0)
    assert [(r["student"], r["eps"]) for r in report.table] == [
        ("standard", 0.25), ("standard", 0.5), ("pgd-at", 0.25), ("pgd-at", 0.5)]
    for row in report.table:
        assert row["random"] <= row["white_box"] and -1 <= row["predictivity"] <= 1
        assert 0 <= row["pgd_accuracy"] <= 1
    # The brain's bounds do not depend on the student.
    assert report.table[0]["white_box"] == report.table[2]["white_box"]
    assert [c.id for c in report.claims] == ["readouts-less-sensitive", "transfer-within-bounds"]
    assert "sensitivity" in report.figures


def test_claim_eps_must_be_one_of_the_swept_radii():
    with pytest.raises(ValidationError, match="claim_eps=0.3"):
        NeuralRobustnessConfig(claim_eps=0.3)


def test_reproduction_config_validates_with_and_without_the_quick_profile():
    for profile in (None, "quick"):
        config = load_config(ROOT / "examples" / "papers" / "neural-robustness.yaml", profile=profile)
        assert config.study.kind == "neural-robustness" and config.active_stages() == ["prep", "study"]
    assert load_config(ROOT / "examples" / "papers" / "neural-robustness.yaml").study.seeds >= 3
