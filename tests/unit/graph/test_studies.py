"""The icgmm claim check in a tiny version, and its reproduction config."""

from pathlib import Path

import pytest

from spotlab.infra.config import load_config
from spotlab.tasks.graph.studies import ICGMMStudyConfig

ROOT = Path(__file__).resolve().parents[3]


def test_tiny_study_reports_every_claim_with_a_verdict():
    report = ICGMMStudyConfig(true_types=(3,), typed_graphs=5, sweeps=10, sbm_graphs=40, sbm_nodes=20, layers=1,
                              cgmm_states=(3, 6), cgmm_alphas=(1.0,), folds=2, hidden=8).run(None, seed=0)
    assert [c.id for c in report.claims] == ["states-found", "bigram-separates",
                                             "icgmm-vs-cgmm-SBM pair h=0.65"]
    assert all(c.verdict in ("pass", "fail") for c in report.claims)
    assert "search 1 vs 2" in report.claims[-1].measured
    assert sum(row["setting"].startswith("CGMM") for row in report.table) == 2
    assert [row["setting"] for row in report.table if row["check"] == "states found"] == [
        "3 true types, batch sampler", "3 true types, sequential sampler"]
    assert set(report.claims[0].measured) == {"batch", "sequential"}


def test_missing_tu_data_names_the_expected_files(tmp_path):
    study = ICGMMStudyConfig(true_types=(3,), typed_graphs=2, sweeps=2, sbm_graphs=20, sbm_nodes=10, layers=1,
                             cgmm_states=(2,), cgmm_alphas=(1.0,), folds=2, hidden=4, tu_root=str(tmp_path),
                             tu_datasets=("NCI1",))
    with pytest.raises(FileNotFoundError, match="NCI1_A.txt"):
        study.run(None, seed=0)


def test_reproduction_config_validates_with_and_without_the_quick_profile():
    for profile in (None, "quick"):
        config = load_config(ROOT / "examples" / "papers" / "icgmm.yaml", profile=profile)
        assert config.study.kind == "icgmm" and config.active_stages() == ["study"]
    assert load_config(ROOT / "examples" / "papers" / "icgmm.yaml", profile="quick").study.sweeps < 100
