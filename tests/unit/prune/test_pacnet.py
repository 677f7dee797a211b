"""PAC-Net: allocate keeps pruned weights at zero; calibration learns the target without forgetting the source."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from spotlab.tasks.data.datasets import Splits
from spotlab.tasks.prune.levels import run_levels
from spotlab.tasks.prune.masks import current_masks
from spotlab.tasks.prune.pacnet import PACNetConfig, calibration_model, l2_sp_penalty, recover_source
from spotlab.tasks.prune.training import PruneData


def shifted_target(data: PruneData) -> PruneData:
    """The same inputs with the labels permuted: a related task the source network gets wrong."""
    s = data.splits
    relabel = lambda y: (y + 1) % 3  # noqa: E731
    splits = Splits(s.x_train[:60], relabel(s.y_train[:60]), s.x_val, relabel(s.y_val), s.x_test, relabel(s.y_test))
    return PruneData(splits, data.info, data.noise_std)


@pytest.fixture
def allocated(data, make_model, training):
    config = PACNetConfig(keep=0.3, training=training)
    source = make_model()
    data.train(source, training, seed=0)
    results, model = run_levels(config, source, data, seed=0)
    return config, results, model


def test_allocate_keeps_the_pruned_weights_at_exactly_zero(allocated):
    _, results, model = allocated
    masks = results[-1].masks
    assert set(masks) == {"net.1", "net.3", "net.5"}  # the head is pruned too by default
    assert results[-1].sparsity == pytest.approx(0.7, abs=0.01)
    for name, mask in masks.items():
        assert torch.all(model.get_submodule(name).weight[~mask] == 0)


def test_calibration_learns_the_target_with_zero_forgetting(allocated, data):
    config, results, model = allocated
    masks = results[-1].masks
    target = shifted_target(data)
    before = target.score(model)["accuracy"]
    calibrated = config.calibrate(model, masks, target, config.training, seed=0)
    assert target.score(calibrated)["accuracy"] > before
    source = recover_source(calibrated)
    x = torch.as_tensor(data.splits.x_test)
    assert torch.equal(source(x), model(x))  # m ⊙ w is the allocated source network, bit for bit
    for (name, p), q in zip(source.named_parameters(), model.parameters()):
        assert torch.equal(p, q), name
    for name, mask in masks.items():  # calibration moved only the freed coordinates
        moved = calibrated.get_submodule(name).weight.detach() != model.get_submodule(name).weight
        assert not torch.any(moved & mask) and torch.any(moved)


def test_calibration_trains_only_the_freed_coordinates(allocated):
    _, results, model = allocated
    calibrated = calibration_model(model, results[-1].masks)
    trainable = {name for name, p in calibrated.named_parameters() if p.requires_grad}
    assert trainable == {f"net.{i}.parametrizations.weight.original" for i in (1, 3, 5)}
    assert current_masks(calibrated) == {}  # a calibration parametrization is not a pruning mask


def test_batchnorm_models_are_refused(data, training):
    model = nn.Sequential(nn.Linear(12, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))
    with pytest.raises(ValueError, match="BatchNorm"):
        next(PACNetConfig(training=training).prune(model, data, seed=0))


def test_l2_sp_penalty_is_zero_at_the_source_and_grows_away_from_it(make_model):
    source = make_model()
    penalty = l2_sp_penalty(source, alpha=0.5)
    assert float(penalty(source).detach()) == 0
    moved = make_model(seed=1)
    expected = 0.5 * sum(float((p - q).detach().pow(2).sum()) for p, q in zip(moved.parameters(), source.parameters()))
    assert float(penalty(moved).detach()) == pytest.approx(expected, rel=1e-5)
    assert np.isfinite(expected)
