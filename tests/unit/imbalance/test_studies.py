"""The ranksim-regression study: every baseline with and without RankSim, a verdict per dataset and baseline."""

from __future__ import annotations

from spotlab.tasks.imbalance.studies import RankSimRegressionConfig, with_bins
from spotlab.tasks.train.config import TrainConfig


def test_with_bins_reaches_every_wrapped_objective():
    objective = TrainConfig.model_validate(
        {"objective": {"kind": "ranksim", "base": {"kind": "fds", "base": {"kind": "lds"}}}}).objective
    binned = with_bins(objective, 7)
    assert binned.base.bins == 7 and binned.base.base.bins == 7 and binned.gamma == objective.gamma


def test_tiny_study_reports_every_method_and_a_verdict_per_baseline():
    study = RankSimRegressionConfig.model_validate({
        "datasets": {"synthetic": {"data": {"dataset": {"kind": "synthetic-regression", "labels": "exponential",
                                                        "label_levels": 20, "imbalance": 3.0, "n_samples": 200}},
                                   "bins": 20}},
        "baselines": {"plain": {"kind": "erm"}, "lds": {"kind": "lds"}},
        "train": {"model": {"kind": "mlp", "hidden": [8]}, "optimizer": {"kind": "adam"}, "epochs": 2,
                  "batch_size": 64},
        "seeds": 2,
    })
    report = study.run(None, seed=0)
    assert [(r["dataset"], r["method"]) for r in report.table] == [
        ("synthetic", m) for m in ("plain", "plain+ranksim", "lds", "lds+ranksim")]
    assert all(r["seeds"] == 2 and " ± " in r["mae"] for r in report.table)
    assert [c.id for c in report.claims] == ["synthetic-plain-few", "synthetic-lds-few"]
    assert all(set(c.measured) == {"all", "many", "medium", "few"} for c in report.claims)
    assert set(report.figures) == {"mae_by_region"}
