"""Ensemble evaluation: temperature scaling never raises validation NLL, metric hand cases, CKA invariances, and the
stacked module agreeing with its members."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from scipy.special import log_softmax
from torch import nn

from spotlab.models.ensemble import Ensemble
from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.tasks.ensemble.evaluation import (brier, disagreement, feature_diversity, fit_temperature, linear_cka,
                                               mean_log_probs, member_outputs, nll, noisy_accuracy)


@pytest.mark.parametrize("scale", [0.2, 1.0, 5.0, 30.0])  # under- to over-confident logits
def test_temperature_scaling_never_raises_validation_nll(scale):
    rng = np.random.default_rng(int(scale * 10))
    labels = rng.integers(0, 10, 200)
    logits = scale * rng.normal(size=(5, 200, 10))
    logits[:, np.arange(200), labels] += scale * rng.normal(1.0, 1.0, 200)  # informative but noisy
    log_probs = mean_log_probs(logits)
    temperature = fit_temperature(log_probs, labels)
    assert nll(log_probs, labels, temperature) <= nll(log_probs, labels) + 1e-9
    assert nll(log_probs, labels, temperature) <= min(nll(log_probs, labels, t) for t in (0.5, 0.9, 1.1, 2.0)) + 1e-6


def test_mean_log_probs_is_the_log_of_the_mean_member_distribution():
    logits = np.random.default_rng(0).normal(size=(3, 4, 5))
    expected = np.log(np.exp(log_softmax(logits, axis=-1)).mean(0))
    assert np.allclose(mean_log_probs(logits), expected)


def test_brier_and_disagreement_hand_cases():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert brier(probs, np.array([0, 0])) == pytest.approx((0 + 0.5) / 2)
    logits = np.array([[[1, 0], [1, 0]], [[1, 0], [0, 1]], [[0, 1], [0, 1]]], dtype=float)  # predictions 00, 01, 11
    assert disagreement(logits) == pytest.approx((1 / 2 + 2 / 2 + 1 / 2) / 3)


def test_cka_ignores_rotation_and_scale_so_identical_members_have_no_diversity():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(100, 6))
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert linear_cka(features, 3.0 * features @ rotation) == pytest.approx(1.0)
    assert feature_diversity(np.stack([features, features @ rotation])) == pytest.approx(0.0, abs=1e-12)
    assert feature_diversity(np.stack([features, rng.normal(size=(100, 6))])) > 0.5


def test_stacked_members_agree_with_the_standalone_networks():
    torch.manual_seed(0)
    models = [build_model(MLPConfig(hidden=[8]), (1, 8, 8), 3, [0.5], [0.25]) for _ in range(3)]
    ensemble = Ensemble(models, shared_head=False)
    x = torch.rand(7, 1, 8, 8)
    logits, features = member_outputs(ensemble, x)
    with torch.no_grad():
        assert np.allclose(logits, torch.stack([m(x) for m in models]).numpy(), atol=1e-5)
        assert np.allclose(features, torch.stack([m.net[:-1](m.normalize(x)) for m in models]).numpy(), atol=1e-6)
        assert np.allclose(ensemble(x).numpy(), mean_log_probs(logits), atol=1e-5)
    y = ensemble(x).argmax(1).numpy()
    assert noisy_accuracy(ensemble, x.numpy(), y, 0.0, (0.0, 1.0), seed=0) == 1.0


def test_members_without_a_linear_head_or_with_batchnorm_are_refused():
    no_head = nn.Sequential(OrderedDict(net=nn.Sequential(nn.Linear(4, 3), nn.ReLU())))
    with pytest.raises(ValueError, match="ending in a linear layer"):
        Ensemble([no_head], shared_head=True)
    batchnorm = nn.Sequential(OrderedDict(net=nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 3))))
    with pytest.raises(ValueError, match="BatchNorm"):
        Ensemble([batchnorm], shared_head=True)
