"""The brain stand-in and the ridge readouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.neural.brain import BrainConfig, NeuralSites, truncate
from spotlab.tasks.neural.readout import fit_readout, predictivity

ALPHAS = [1e-2, 1.0, 100.0]


def _features() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU()).eval().requires_grad_(False)


def test_the_folded_readout_predicts_what_the_sklearn_pipeline_predicts():
    x = torch.rand(200, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    phi = _features()(x).double().numpy()
    targets = np.stack([np.sin(phi.sum(1)), phi[:, 0] * 3 - phi[:, 1]], 1)
    readout = fit_readout(_features(), x, targets, ALPHAS)
    reference = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS, alpha_per_target=True)).fit(phi, targets)
    assert readout(x).double().numpy() == pytest.approx(reference.predict(phi), abs=1e-4)


def test_predictivity_is_one_for_a_site_in_the_features_span_and_below_for_noise():
    x = torch.rand(300, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    phi = _features()(x).double().numpy()
    noise = np.random.default_rng(0).normal(size=len(x))
    targets = np.stack([phi @ np.arange(12.0), noise], 1)
    readout = fit_readout(_features(), x[:200], targets[:200], ALPHAS)
    scores = predictivity(readout, x[200:], targets[200:])
    assert scores[0] == pytest.approx(1.0, abs=1e-3) and scores[1] < 0.2


def test_non_positive_alphas_are_refused():
    with pytest.raises(ValueError, match="readout.alphas"):
        fit_readout(_features(), torch.rand(10, 1, 4, 4), np.zeros((10, 1)), [0.0, 1.0])


def test_poisson_recordings_are_seeded_and_average_to_the_rates():
    torch.manual_seed(0)
    units = nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.ReLU())
    with torch.no_grad():
        units[1].bias.fill_(1.0)
    brain = NeuralSites(units, torch.tensor([0, 2]), poisson_gain=5.0)
    x = torch.rand(1, 1, 4, 4).expand(4000, 1, 4, 4)
    first, again = brain.record(x, seed=3), brain.record(x, seed=3)
    assert np.array_equal(first, again) and not np.array_equal(first, brain.record(x, seed=4))
    assert np.allclose(first * 5.0, np.round(first * 5.0))  # counts / gain
    assert first.mean(0) == pytest.approx(brain(x[:1]).double().numpy()[0], rel=0.05)
    silent = NeuralSites(units, torch.tensor([0]), poisson_gain=None)
    assert np.array_equal(silent.record(x[:3], 0), silent(x[:3]).double().numpy())


def test_poisson_recordings_need_non_negative_rates():
    brain = NeuralSites(nn.Flatten(), torch.tensor([0]), poisson_gain=1.0)
    with pytest.raises(ValueError, match="non-negative"):
        brain.record(-torch.ones(2, 1, 2, 2), seed=0)


def test_truncate_keeps_normalisation_and_checks_the_cut():
    model = build_model(MLPConfig(hidden=[8, 6]), (1, 4, 4), 3, [0.5], [0.25])
    features = truncate(model, -1)
    x = torch.rand(5, 1, 4, 4)
    assert features(x).shape == (5, 6) and torch.equal(features(x), model.net[:-1](model.normalize(x)))
    with pytest.raises(ValueError, match="feature_cut=-6"):
        truncate(model, -6)


def test_brain_sites_are_distinct_responsive_units_and_too_many_sites_is_an_error():
    splits, info = prepare(DataConfig(), 0)
    config = BrainConfig(teacher={"model": {"kind": "mlp", "hidden": [16]}, "optimizer": {"kind": "adam"},
                                  "epochs": 1}, n_sites=6)
    brain = config.build(splits, info, seed=0)
    assert len(set(brain.sites.tolist())) == 6
    assert (brain(torch.as_tensor(splits.x_train)).std(0) > 0).all()
    with pytest.raises(ValueError, match="brain.n_sites=17"):
        config.model_copy(update={"n_sites": 17}).build(splits, info, seed=0)
