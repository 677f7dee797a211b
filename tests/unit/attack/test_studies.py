"""The attack family's claim checks in tiny versions, the paired test, and the reproduction configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from scipy.stats import binomtest

from spotlab.infra.config import load_config
from spotlab.tasks.attack.studies import CGDComparisonConfig, PRLComparisonConfig, mcnemar_p

ROOT = Path(__file__).resolve().parents[3]


def test_mcnemar_uses_only_discordant_pairs():
    first = torch.tensor([1, 1, 1, 1, 0, 0, 1, 0], dtype=torch.bool)
    second = torch.tensor([1, 0, 0, 0, 0, 1, 1, 0], dtype=torch.bool)  # 3 only-first, 1 only-second
    assert mcnemar_p(first, second) == pytest.approx(binomtest(3, 4, 0.5).pvalue)
    assert mcnemar_p(first, first) == 1.0


def test_tiny_cgd_comparison(digits):
    study = CGDComparisonConfig(models=[{"kind": "mlp", "hidden": [32]}], training=["standard"], epochs=2,
                                eps=[0.125, 0.25], steps=10, n_examples=40)
    report = study.run(digits, seed=0)
    assert [(row["model"], row["eps"]) for row in report.table] == [("mlp", 0.125), ("mlp", 0.25)]
    for row in report.table:
        assert all(0 <= row[f"success_{a}"] <= 1 for a in ("cgd", "apgd_md", "apgd_ce"))
        assert 0 <= row["p_cgd_vs_apgd_md"] <= 1 and row["seconds_cgd"] > 0
    # A larger ball never makes the same paired attack less successful here (same targets and seed).
    assert report.table[1]["success_cgd"] >= report.table[0]["success_cgd"]
    assert [c.id for c in report.claims] == ["cgd-beats-apgd-md", "md-beats-ce", "cgd-faster"]
    assert "success" in report.figures


def test_tiny_prl_comparison(digits):
    study = PRLComparisonConfig(model={"kind": "mlp", "hidden": [32]}, epochs=2, draws=10,
                                prl={"kind": "prl", "samples": 3, "t_steps": 2})
    report = study.run(digits, seed=0)
    assert [row["method"] for row in report.table] == ["erm", "pgd-at", "prl"]
    for row in report.table:
        assert row["prob_acc@0.1"] >= row["prob_acc@0.05"] >= row["prob_acc@0.01"]
        assert row["pgd_accuracy"] <= row["clean_accuracy"] + 0.05
    assert {c.id for c in report.claims} == {"probacc-0.1", "probacc-0.05", "probacc-0.01", "clean-prl-above-pgd-at"}


@pytest.mark.parametrize("paper,kind", [("cgd", "cgd-comparison"), ("prl", "prl-comparison")])
def test_reproduction_configs_validate_with_and_without_the_quick_profile(paper, kind):
    for profile in (None, "quick"):
        config = load_config(ROOT / "examples" / "papers" / f"{paper}.yaml", profile=profile)
        assert config.study.kind == kind and config.active_stages() == ["prep", "study"]
