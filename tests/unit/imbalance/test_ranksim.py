"""RankSim: ranks, the zero-loss case, the blackbox backward, unique-label sampling and composition with objectives."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from spotlab.tasks.imbalance.ranksim import BlackboxRank, normalised_rank, one_per_label, ranksim_loss
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.objectives import build_objective


def test_normalised_rank_of_the_notes_example():
    ranks = normalised_rank(torch.tensor([[0.1, 0.5, 0.3]]))
    assert torch.allclose(ranks, torch.tensor([[1.0, 1 / 3, 2 / 3]]))


def test_features_on_an_arc_ordered_like_the_labels_give_zero_loss():
    labels = torch.tensor([0.0, 1.0, 3.0, 7.0, 15.0, 31.0])
    theta = labels / 31 * math.pi / 2
    features = torch.stack([theta.cos(), theta.sin()], dim=1)
    assert ranksim_loss(features, labels, interpolation=2.0).item() == 0.0


def test_shuffled_features_give_a_positive_loss():
    labels = torch.tensor([0.0, 1.0, 3.0, 7.0, 15.0, 31.0])
    theta = labels.flip(0) ** 2 / 31**2 * math.pi / 2  # an order-breaking map of the labels
    features = torch.stack([theta.cos(), theta.sin()], dim=1)
    assert ranksim_loss(features, labels, interpolation=2.0).item() > 0


def test_backward_is_the_blackbox_formula_on_a_hand_case():
    scores = torch.tensor([[0.1, 0.5, 0.3]], requires_grad=True)
    ranks = BlackboxRank.apply(scores, 2.0)
    ranks.backward(torch.tensor([[1.0, 0.0, 0.0]]))
    # s' = s + 2·g = [2.1, 0.5, 0.3] → rk(s') = [1/3, 2/3, 1]; rk(s) = [1, 1/3, 2/3];
    # grad = −(rk(s) − rk(s'))/2 = −[2/3, −1/3, −1/3]/2
    assert torch.allclose(scores.grad, torch.tensor([[-1 / 3, 1 / 6, 1 / 6]]), atol=1e-6)


def test_unique_label_sampler_keeps_one_sample_per_label():
    labels = torch.tensor([3.0, 1.0, 3.0, 2.0, 1.0, 3.0, 5.0])
    picked = set()
    for seed in range(30):
        keep = one_per_label(labels, torch.Generator().manual_seed(seed))
        assert sorted(labels[keep].tolist()) == [1.0, 2.0, 3.0, 5.0]
        picked.add(tuple(keep.tolist()))
    assert len(picked) > 1  # the representative of a repeated label is random


def _regression_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))


def _objective(objective: dict):
    cfg = TrainConfig.model_validate({"objective": objective}).objective
    return build_objective(cfg, "regression", None, torch.arange(10.0))


def test_ranksim_adds_gamma_times_its_term_to_the_base_objective():
    model, x, y = _regression_model(), torch.randn(10, 4), torch.arange(10.0)
    base = _objective({"kind": "erm"})(model, x, y)
    features = model[:2](x)
    expected = base + 7.0 * ranksim_loss(features, y, 2.0)
    total = _objective({"kind": "ranksim", "gamma": 7.0})(model, x, y)
    assert torch.allclose(total, expected)
    assert torch.allclose(_objective({"kind": "ranksim", "gamma": 0.0})(model, x, y), base)
    total.backward()
    assert model[0].weight.grad is not None and model[0].weight.grad.abs().sum() > 0


def test_ranksim_needs_regression_and_names_a_bad_base():
    cfg = TrainConfig.model_validate({"objective": {"kind": "ranksim"}}).objective
    with pytest.raises(ValueError, match="regression"):
        build_objective(cfg, "classification", (0.0, 1.0), torch.arange(3))
    with pytest.raises(ValidationError, match="objective.ranksim.base"):
        TrainConfig.model_validate({"objective": {"kind": "ranksim", "base": {"kind": "nope"}}})
