"""The sensitivity evaluator on hand-made teachers where the answer is known."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.tasks.neural.brain import NeuralSites
from spotlab.tasks.neural.evaluation import SensitivityConfig
from spotlab.tasks.neural.readout import fit_readout
from spotlab.tasks.neural.sensitivity import (SiteAttackConfig, attack_sites, normalised, random_change,
                                              transferred_change)

WIDE = (-100.0, 100.0)  # a box the ε-balls never touch, so the closed forms hold exactly
ATTACK = SiteAttackConfig(steps=30, restarts=3, random_draws=32)


def linear(weight: torch.Tensor) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        layer.weight.copy_(weight)
    return layer.requires_grad_(False)


class Units(nn.Module):
    """tanh units of a fixed random layer, times ``scale``, with a last unit that is constant."""

    def __init__(self, dim: int, units: int, scale: float = 1.0):
        super().__init__()
        self.layer = nn.Linear(dim, units)
        with torch.no_grad():
            self.layer.weight.copy_(torch.randn(units, dim, generator=torch.Generator().manual_seed(7)))
            self.layer.bias.zero_()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        constant = torch.full((len(x), 1), 0.5)
        return torch.cat([self.scale * torch.tanh(self.layer(flat) / 4), constant], 1)


def test_random_le_transfer_le_white_box_on_a_linear_teacher_with_the_closed_form_maximum():
    dim, seen, eps = 20, 15, 0.5
    # Not seed 0: the random-direction bound draws from seed 0, and its first draws would then be these weights.
    generator = torch.Generator().manual_seed(1234)
    weight = torch.randn(3, dim, generator=generator)
    weight[:, seen:] *= 0.3  # the sites depend mostly on what the student sees
    teacher = linear(weight)
    x_fit = torch.randn(400, dim, generator=generator)
    # The student sees only the first `seen` coordinates: its readout is W[:, :seen], so the readout's best δ moves
    # the teacher by ε‖w_i[:seen]‖, short of the white-box maximum ε‖w_i‖.
    student = linear(torch.eye(dim)[:seen])
    readout = fit_readout(student, x_fit, teacher(x_fit).double().numpy(), alphas=[1e-8])
    x = torch.randn(5, dim, generator=generator)

    found, _ = attack_sites(readout, x, eps, WIDE, ATTACK, seed=0)
    transfer = transferred_change(readout, teacher, x, found)
    _, white_box = attack_sites(teacher, x, eps, WIDE, ATTACK, seed=0)
    white_box = white_box.amax(2)
    random = random_change(teacher, x, eps, WIDE, ATTACK.random_draws, seed=0)

    closed_white_box = eps * weight.norm(dim=1)
    # The readout's best δ is ε·ŵ' (w': its fitted weights on the seen coordinates), which moves teacher site i by
    # ε w_i·ŵ'; the fit's sampling error keeps w' off W[:, :seen] and the transfer below the white-box maximum.
    fitted = readout[1].weight
    closed_transfer = eps * (weight[:, :seen] * fitted / fitted.norm(dim=1, keepdim=True)).sum(1)
    assert white_box == pytest.approx(closed_white_box.expand(5, 3), rel=1e-4)
    assert transfer == pytest.approx(closed_transfer.expand(5, 3), rel=1e-3)
    assert (random <= transfer + 1e-6).all() and (transfer <= white_box + 1e-6).all()
    assert (random > 0).all()


def test_plus_minus_search_never_finds_less_than_the_plus_direction_alone():
    torch.manual_seed(0)
    sites = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 4)).requires_grad_(False)
    x = torch.rand(6, 12)
    cfg = SiteAttackConfig(steps=8, restarts=2)
    found_both, both = attack_sites(sites, x, 0.3, (0.0, 1.0), cfg, seed=3)
    found_plus, plus = attack_sites(sites, x, 0.3, (0.0, 1.0), cfg.model_copy(update={"directions": "plus"}), seed=3)
    assert both.shape == (6, 4, 2) and plus.shape == (6, 4, 1)
    assert torch.equal(both[..., 0], plus[..., 0])  # the + search is the same in both runs
    assert (both.amax(2) >= plus[..., 0]).all()
    assert (transferred_change(sites, sites, x, found_both) >= transferred_change(sites, sites, x, found_plus)).all()
    assert (both[..., 1] > 0).any()  # the − direction is a real search, not a copy


def test_found_points_stay_in_the_ball_and_the_box():
    torch.manual_seed(1)
    sites = nn.Sequential(nn.Flatten(), nn.Linear(64, 5), nn.Tanh()).requires_grad_(False)
    x = torch.rand(4, 1, 8, 8)
    found, _ = attack_sites(sites, x, 0.7, (0.0, 1.0), SiteAttackConfig(steps=6, restarts=2), seed=0)
    delta = (found - x[:, None, None]).flatten(3)
    assert (delta.norm(dim=3) <= 0.7 + 1e-5).all()
    assert found.min() >= 0 and found.max() <= 1


def _splits(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return SimpleNamespace(x_train=torch.rand(300, 1, 4, 4, generator=generator).numpy(),
                           x_test=torch.rand(120, 1, 4, 4, generator=generator).numpy())


def _student():
    torch.manual_seed(0)
    return build_model(MLPConfig(hidden=[32, 16]), (1, 4, 4), 3).eval()


SMALL = SensitivityConfig(attack=SiteAttackConfig(steps=10, restarts=2, random_draws=8), eps=[0.2, 0.4],
                          n_images=8)


def test_a_constant_site_has_zero_sensitivity_everywhere():
    brain = NeuralSites(Units(16, 3), torch.tensor([0, 1, 3]))  # unit 3 is the constant one
    rows, details = SMALL.evaluate(brain, _student(), _splits(), (0.0, 1.0), seed=0)
    for eps in SMALL.eps:
        for name in ("readout", "transfer", "random", "white_box"):
            values = details["eps"][eps][name]
            assert values[2] == 0.0
            assert values[0] > 0 and values[1] > 0
    assert all(np.isfinite(list(row.values())).all() for row in rows)


def test_scaling_the_teachers_units_scales_s_and_leaves_the_normalised_s_unchanged():
    c = 3.0
    x = torch.as_tensor(_splits().x_test[:8])
    brain = NeuralSites(Units(16, 3), torch.tensor([0, 1, 2]))
    scaled = NeuralSites(Units(16, 3, scale=c), torch.tensor([0, 1, 2]))
    _, raw = attack_sites(brain, x, 0.3, (0.0, 1.0), SMALL.attack, seed=0)
    _, raw_scaled = attack_sites(scaled, x, 0.3, (0.0, 1.0), SMALL.attack, seed=0)
    assert raw_scaled == pytest.approx(c * raw, rel=1e-4, abs=1e-6)
    _, details = SMALL.evaluate(brain, _student(), _splits(), (0.0, 1.0), seed=0)
    _, details_scaled = SMALL.evaluate(scaled, _student(), _splits(), (0.0, 1.0), seed=0)
    for eps in SMALL.eps:
        for name in ("readout", "transfer", "random", "white_box"):
            assert details_scaled["eps"][eps][name] == pytest.approx(details["eps"][eps][name], rel=1e-3)
    assert details_scaled["predictivity"] == pytest.approx(details["predictivity"], rel=1e-6)


def test_normalised_is_the_mean_over_images_divided_by_the_spread():
    s = np.array([[1.0, 0.0, 2.0], [3.0, 0.0, 4.0]])
    assert normalised(s, np.array([2.0, 0.0, 1.5])) == pytest.approx([1.0, 0.0, 2.0])
