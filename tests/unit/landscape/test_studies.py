"""The landscape family's paper studies on debug-sized settings: reports, claim directions, label noise, configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from spotlab.infra.config import load_config
from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.landscape.studies import DiagonalSAMConfig, SAMComparisonConfig, ToroidsConfig, with_label_noise

ROOT = Path(__file__).resolve().parents[3]
TINY_TRAIN = {"model": {"kind": "mlp", "hidden": [32]}, "epochs": 3, "batch_size": 64,
              "optimizer": {"kind": "sgd", "lr": 0.05}}


@pytest.fixture(scope="module")
def digits():
    return prepare(DataConfig(), 0)


def test_label_noise_flips_exactly_the_asked_fraction_to_other_classes(digits):
    splits, info = digits
    noisy = with_label_noise(splits, info.num_outputs, 0.25, seed=0)
    changed = noisy.y_train != splits.y_train
    assert changed.sum() == round(0.25 * len(splits.y_train))
    assert noisy.y_train.min() >= 0 and noisy.y_train.max() < info.num_outputs
    np.testing.assert_array_equal(noisy.y_test, splits.y_test)
    assert with_label_noise(splits, info.num_outputs, 0.0, seed=0) is splits


def test_diagonal_study_finds_one_sam_better_and_sparser_than_gd():
    report = DiagonalSAMConfig(alphas=[0.02], rhos=[0.1], iterations=3000).run(None, 0)
    assert {r["method"] for r in report.table} == {"gd", "n-sam", "1-sam"}
    verdicts = {c.id: c.verdict for c in report.claims}
    assert verdicts["1sam-sparser@0.02"] == "pass"
    gd, one = (next(r for r in report.table if r["method"] == m) for m in ("gd", "1-sam"))
    assert one["test_loss"] < gd["test_loss"]
    assert "test_loss_vs_rho" in report.figures
    with pytest.raises(ValueError, match="reference_rho"):
        DiagonalSAMConfig(rhos=[0.3], reference_rho=0.1).run(None, 0)


def test_fisher_sam_is_compared_with_sam_at_equal_radius_only():
    sgd = {"kind": "sgd", "lr": 0.05}
    with pytest.raises(ValidationError, match="ρ = γ"):
        SAMComparisonConfig.model_validate({"methods": [{"kind": "sam", "rho": 0.05, "base": sgd},
                                                        {"kind": "fisher-sam", "gamma": 0.1, "base": sgd}]})
    with pytest.raises(ValidationError, match="share a label"):
        SAMComparisonConfig.model_validate({"methods": [{"kind": "sam", "rho": 0.1, "base": sgd},
                                                        {"kind": "sam", "rho": 0.1, "base": {"kind": "adam"}}]})
    both_scales = SAMComparisonConfig.model_validate({"methods": [
        {"kind": "sam", "rho": 0.1, "base": sgd}, {"kind": "fisher-sam", "gamma": 0.1, "base": sgd},
        {"kind": "fisher-sam", "gamma": 0.1, "gradient_scale": "sum", "base": sgd}]})
    assert len(both_scales.methods) == 3


def test_diagonal_study_reproduces_the_notebooks_published_test_losses():
    report = DiagonalSAMConfig(alphas=[0.02], rhos=[0.1]).run(None, 0)  # the notebook's data and 10⁴ + 1 steps
    losses = {r["method"]: r["test_loss"] for r in report.table}
    assert losses["gd"] == pytest.approx(6.34e-4, rel=1e-3)
    assert losses["1-sam"] == pytest.approx(1.54e-5, rel=1e-3)
    assert {c.id: c.verdict for c in report.claims}["notebook-test-losses"] == "pass"


def test_diagonal_study_reports_other_seeds_as_a_spread():
    report = DiagonalSAMConfig(alphas=[0.02], rhos=[0.1], iterations=200, spread_seeds=2).run(None, 0)
    assert all(r["test_loss_other_seeds"].count("[") == 1 for r in report.table)
    assert "notebook-test-losses" not in {c.id for c in report.claims}  # not the notebook's setup


def test_sam_comparison_reports_every_cell_and_its_claims(digits):
    study = SAMComparisonConfig.model_validate({
        "train": TINY_TRAIN, "seeds": 2, "label_noise": [0.0, 0.3], "hessian_examples": 32,
        "hessian": {"iterations": 2, "trace_samples": 0},
        "methods": [{"kind": "sam", "rho": 0.1, "base": {"kind": "sgd", "lr": 0.05}},
                    {"kind": "fisher-sam", "gamma": 0.1, "base": {"kind": "sgd", "lr": 0.05}}],
    })
    report = study.run(digits, 0)
    labels = ("sgd", "sam ρ=0.1", "fisher-sam γ=0.1 η=1 (mean)")
    assert [(r["label_noise"], r["optimizer"]) for r in report.table] == [(n, k) for n in (0.0, 0.3) for k in labels]
    assert all("±" in r["test_accuracy"] for r in report.table)
    assert {c.id for c in report.claims} == {
        f"{c}@{n}" for c in ("fisher-ge-sam", "sam-family-beats-sgd", "flatter") for n in ("0", "0.3")
    } - {"fisher-ge-sam@0", "fisher-ge-sam@0.3"} | {"fisher-ge-sam@0-eta1-mean", "fisher-ge-sam@0.3-eta1-mean"}
    fisher_claim = next(c for c in report.claims if c.id == "fisher-ge-sam@0-eta1-mean")
    assert "sam ρ=0.1" in fisher_claim.expected  # compared at equal radius
    assert "accuracy" in report.figures


def test_toroids_study_checks_its_exact_claims(digits):
    study = ToroidsConfig.model_validate({
        "train": TINY_TRAIN, "path_points": 5, "bend_steps": 20, "flatness_seeds": 2, "flatness_samples": 2,
        "sigmas": [0.2], "sam": {"kind": "sam", "rho": 0.1, "base": {"kind": "sgd", "lr": 0.05}},
        "large_batch": {**TINY_TRAIN, "batch_size": 256},
    })
    report = study.run(digits, 0)
    verdicts = {c.id: c.verdict for c in report.claims}
    assert verdicts["standardised-same-predictions"] == verdicts["permutation-recovered"] == "pass"
    assert set(verdicts) >= {"alignment-lowers-barrier", "bend-barrier-zero", "sam-flatter", "large-batch-sharper",
                             "flatness-tracks-error"}
    assert set(report.figures) == {"paths", "local_energy"}


@pytest.mark.parametrize("paper", ["fisher-sam", "sam-understanding", "toroids"])
@pytest.mark.parametrize("profile", [None, "quick"])
def test_reproduction_configs_load(paper, profile):
    config = load_config(ROOT / "examples" / "papers" / f"{paper}.yaml", profile=profile)
    assert config.study is not None and config.name == paper

