"""Tiny versions of the two paper studies: table shape, claim set, and the claims that must hold by construction."""

from __future__ import annotations

from pathlib import Path

import pytest

from spotlab.infra.config import load_config
from spotlab.models.mlp import MLPConfig
from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.prune.studies import PACNetTransferConfig, RamanujanTicketsConfig
from spotlab.tasks.prune.training import RetrainConfig
from spotlab.tasks.study.config import STUDIES
from spotlab.tasks.train.optimizers import AdamConfig
from spotlab.tasks.train.schedules import ConstantScheduleConfig

TINY_TRAINING = RetrainConfig(epochs=1)
TINY_ADAM = {"optimizer": AdamConfig(), "schedule": ConstantScheduleConfig(), "epochs": 2}


def test_studies_are_registered():
    assert STUDIES["ramanujan-tickets"] is RamanujanTicketsConfig
    assert STUDIES["pac-net-transfer"] is PACNetTransferConfig


def test_ramanujan_tickets_reports_every_strategy_level_and_layer():
    study = RamanujanTicketsConfig(model=MLPConfig(hidden=[48, 24]), levels=2, training=TINY_TRAINING, seeds=1)
    report = study.run(prepare(DataConfig(), seed=0), seed=0)
    assert [(r["strategy"], r["level"]) for r in report.table] == [
        (s, level) for s in ("imp", "ramanujan-imp", "random") for level in range(3)
    ]
    assert {"dr[net.1]", "dr[net.3]", "accuracy", "noisy_accuracy"} <= set(report.table[0])
    assert [r["sparsity"] for r in report.table if r["strategy"] == "imp"] == pytest.approx([0.0, 0.2, 0.36], abs=1e-3)
    assert [c.id for c in report.claims] == [
        "tickets-ramanujan-accurate", "losing-property-hurts", "ramanujan-imp-improves", "tickets-beat-random"
    ]
    assert "ramanujan_levels" in report.figures and "Δr" in report.notes


def test_pac_net_transfer_has_zero_forgetting_on_both_pairs():
    study = PACNetTransferConfig(
        hidden=[16], friedman_samples=200, friedman_shots=10, digits_shots=2, seeds=1,
        source_training=RetrainConfig(**TINY_ADAM), target_training=RetrainConfig(**TINY_ADAM, batch_size=8),
    )
    report = study.run(None, seed=0)
    assert [(r["pair"], r["method"]) for r in report.table] == [
        (p, m) for p in ("friedman", "digits") for m in ("fine-tuning", "l2-sp", "pac-net")
    ]
    forgetting = [c for c in report.claims if c.id.endswith("zero-forgetting")]
    assert len(forgetting) == 2 and all(c.verdict == "pass" for c in forgetting)
    pac = [r for r in report.table if r["method"] == "pac-net"]
    assert all(r["source_error_after"] == r["source_error_before"] for r in pac)


@pytest.mark.parametrize("paper, kind", [("ramanujan", "ramanujan-tickets"), ("pacnet", "pac-net-transfer")])
def test_reproduction_configs_load_with_and_without_the_quick_profile(paper, kind):
    path = Path(__file__).resolve().parents[3] / "examples" / "papers" / f"{paper}.yaml"
    full, quick = load_config(path), load_config(path, profile="quick")
    assert full.study.kind == quick.study.kind == kind
    assert quick.study.seeds == 1 and quick.study != full.study
