"""WOODS's augmented-Lagrangian pieces: ψ on both branches and its continuity, the epoch-end updates on hand
cases, and two constraints whose multipliers evolve independently (the official code shares one tensor)."""

from __future__ import annotations

import math

import pytest
import torch

from spotlab.tasks.ood.finetune import FineTuneConfig
from spotlab.tasks.ood.woods import Multiplier, WOODSConfig, psi, update_multiplier, update_penalty


def test_psi_active_branch_is_the_quadratic_penalty():
    # βc + λ = 2·0.5 + 1 ≥ 0: λc + βc²/2 = 0.5 + 0.25
    assert psi(0.5, 1.0, 2.0) == pytest.approx(0.75)


def test_psi_inactive_branch_is_constant_in_c():
    # βc + λ = −1 + 0.5 < 0: −λ²/(2β) whatever c is
    assert psi(-1.0, 0.5, 1.0) == pytest.approx(-0.125)
    assert psi(-7.0, 0.5, 1.0) == pytest.approx(-0.125)


@pytest.mark.parametrize("lam,beta", [(0.0, 1.0), (0.3, 1.0), (2.0, 0.5), (1.0, 3.375)])
def test_psi_and_its_slope_are_continuous_where_the_branches_meet(lam, beta):
    switch, eps = -lam / beta, 1e-6
    assert psi(switch + eps, lam, beta) == pytest.approx(psi(switch - eps, lam, beta), abs=1e-5)
    assert psi(switch, lam, beta) == pytest.approx(-(lam**2) / (2 * beta))
    c = torch.tensor(switch + eps, dtype=torch.float64, requires_grad=True)
    psi(c, lam, beta).backward()
    assert float(c.grad) == pytest.approx(0.0, abs=1e-5)  # slope λ + βc vanishes at the switch


def test_multiplier_update_on_hand_cases():
    assert update_multiplier(0.0, 1.0, 0.3, 1.0) == pytest.approx(0.3)  # active: λ + η·c
    assert update_multiplier(0.2, 1.0, -0.1, 2.0) == pytest.approx(0.0)  # active: 0.2 + 2·(−0.1)
    assert update_multiplier(0.5, 2.0, -1.0, 1.0) == pytest.approx(0.25)  # inactive: λ − η·λ/β
    assert update_multiplier(0.0, 1.0, -1.0, 1.0) == 0.0  # inactive from zero stays zero


def test_penalty_grows_only_beyond_the_tolerance():
    assert update_penalty(2.0, 0.1, 1.5, 0.0) == pytest.approx(3.0)
    assert update_penalty(2.0, 0.0, 1.5, 0.0) == 2.0
    assert update_penalty(2.0, 0.04, 1.5, 0.05) == 2.0


def test_updating_one_multiplier_leaves_the_other_alone():
    first, second = Multiplier(0.0, 1.0), Multiplier(0.0, 1.0)
    first.update(0.4, lr=1.0, growth=1.5, tolerance=0.0)
    assert (first.lam, first.beta) == (pytest.approx(0.4), pytest.approx(1.5))
    assert (second.lam, second.beta) == (0.0, 1.0)


def test_woods_multipliers_follow_their_own_constraints(wild_digits, pretrained):
    """Replaying the recorded constraint values through the update rule reproduces each multiplier separately."""
    woods = WOODSConfig(false_alarm=0.001, loss_slack=1.0, lr_lam=1.0)  # tight: both constraints get violated
    result = woods.fine_tune(pretrained(), wild_digits, FineTuneConfig(epochs=4, batch_size=64), seed=0)
    for name in ("false_alarm", "id_loss"):
        lam, beta = woods.lam0, woods.beta0
        for epoch in result.history:
            c = epoch[f"c_{name}"]
            lam, beta = update_multiplier(lam, beta, c, woods.lr_lam), update_penalty(beta, c, 1.5, 0.0)
            assert epoch[f"lam_{name}"] == pytest.approx(lam) and epoch[f"beta_{name}"] == pytest.approx(beta)
    lams = [(e["lam_false_alarm"], e["lam_id_loss"]) for e in result.history]
    assert any(not math.isclose(a, b) for a, b in lams)
    assert result.history[0]["lam_false_alarm"] > 0  # α = 0.001 is violated by the untrained head


def test_woods_reports_its_constraints_on_the_id_training_set(wild_digits, pretrained):
    woods = WOODSConfig()
    result = woods.fine_tune(pretrained(), wild_digits, FineTuneConfig(epochs=2, batch_size=64), seed=0)
    end = result.history[-1]
    assert result.summary["false_alarm"] == end["false_alarm"]
    assert result.summary["false_alarm_met"] == (end["false_alarm"] <= woods.false_alarm)
    assert result.summary["id_loss_met"] == (end["id_loss"] <= result.summary["id_loss_limit"])
    assert 0.0 <= result.summary["false_alarm_test"] <= 1.0
