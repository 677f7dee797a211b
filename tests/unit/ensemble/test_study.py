"""The fspi-comparison study at toy size: table shape, claim set, figure, config errors and the paper config."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from spotlab.infra.config import load_config
from spotlab.models.mlp import MLPConfig
from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.ensemble.config import EnsembleTrainConfig
from spotlab.tasks.ensemble.studies import FSPIComparisonConfig
from spotlab.tasks.study.config import STUDIES

ROOT = Path(__file__).resolve().parents[3]


def test_study_reports_every_method_and_seed_with_the_issue_claims():
    study = FSPIComparisonConfig(training=EnsembleTrainConfig(model=MLPConfig(hidden=[16]), members=3, epochs=1),
                                 seeds=2, noise=[0.2])
    report = study.run(prepare(DataConfig(), seed=0), seed=0)
    assert [(r["method"], r["seed"]) for r in report.table] == [
        (m, s) for s in (0, 1) for m in ("deep-ensemble", "fspi", "shared-head")
    ] + [(m, "mean") for m in ("deep-ensemble", "fspi", "shared-head")]
    assert {"accuracy", "nll", "brier", "ece", "disagreement", "feature_diversity", "noisy_accuracy@0.2"} <= set(
        report.table[0])
    assert [c.id for c in report.claims] == ["diversity-higher", "nll-no-worse", "ece-no-worse", "accuracy-no-worse",
                                             "noise-robustness"]
    assert "reliability" in report.figures


def test_unknown_method_label_is_named():
    with pytest.raises(ValidationError, match="candidate='fpsi' is not a label of methods"):
        FSPIComparisonConfig(candidate="fpsi")


def test_paper_config_is_registered_and_its_quick_profile_loads():
    assert STUDIES["fspi-comparison"] is FSPIComparisonConfig
    config = load_config(ROOT / "examples/papers/fspi.yaml", profile="quick")
    assert config.study.kind == "fspi-comparison" and config.study.training.members == 5
