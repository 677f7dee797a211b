"""LDS weights on hand histograms, the smoothing window, and FDS calibration and running statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from spotlab.tasks.imbalance.bins import gaussian_window
from spotlab.tasks.imbalance.fds import FeatureSmoother, calibrate
from spotlab.tasks.imbalance.lds import LDSConfig
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.objectives import build_objective

# Integer labels 0..3 with counts 4, 1, 0, 9 (bins = 4 gives one bin per label).
HAND_LABELS = np.repeat([0, 1, 3], [4, 1, 9]).astype(np.float32)


def test_sqinv_weights_on_a_hand_histogram():
    _, weights = LDSConfig(weighting="sqinv", smooth=False, bins=4).bin_weights(HAND_LABELS)
    # 1/√count = 1/2, 1, -, 1/3; the 14 samples' raw weights sum to 4/2 + 1 + 9/3 = 6 → scale 14/6
    assert np.allclose(weights, np.array([1 / 2, 1, 0, 1 / 3]) * 14 / 6)


def test_inv_weights_clip_counts_to_at_least_five():
    _, weights = LDSConfig(weighting="inv", smooth=False, bins=4).bin_weights(HAND_LABELS)
    # clip(4, 1, 9 to [5, 1000]) = 5, 5, 9 → raw weights sum 4/5 + 1/5 + 9/9 = 2 → scale 7 (the empty bin's
    # weight is never used in training; as in Yang et al. its clipped value 5 still enters LDS smoothing)
    assert np.allclose(weights[[0, 1, 3]], np.array([1 / 5, 1 / 5, 1 / 9]) * 7)


def test_lds_smooths_a_single_label_into_the_window():
    window = gaussian_window(5, 2.0)
    assert window.max() == 1.0 and window[2] == 1.0 and np.allclose(window, window[::-1])
    assert np.all(np.diff(window[:3]) > 0)
    labels = np.concatenate([np.full(16, 4.0), [0.0, 8.0]])  # one dense label, one sample at either end
    bins, weights = LDSConfig(bins=9, kernel_size=5, sigma=2.0).bin_weights(labels)
    smoothed = np.zeros(9)
    for label, count in ((0, 1), (4, 16), (8, 1)):
        smoothed[max(label - 2, 0):label + 3] += np.sqrt(count) * window[max(2 - label, 0):5 - max(label + 3 - 9, 0)]
    raw = 1 / smoothed[bins.index(labels)]
    assert np.allclose(weights[bins.index(labels)], raw * len(labels) / raw.sum())


def test_lds_loss_is_the_weighted_mean_squared_error():
    cfg = TrainConfig.model_validate({"objective": {"kind": "lds", "smooth": False, "bins": 4}}).objective
    labels = torch.as_tensor(HAND_LABELS)
    objective = build_objective(cfg, "regression", None, labels)
    model = nn.Linear(1, 1)
    x = torch.randn(len(labels), 1)
    _, weights = cfg.bin_weights(HAND_LABELS)
    error = (model(x).squeeze(-1) - labels).square()
    expected = (torch.as_tensor(weights, dtype=torch.float32)[labels.long()] * error).mean()
    assert torch.allclose(objective(model, x, labels), expected)


def test_fds_calibration_is_the_identity_when_smoothed_and_running_statistics_agree():
    z = torch.randn(6, 3)
    mean, var = torch.randn(6, 3), torch.rand(6, 3) + 0.1
    assert torch.allclose(calibrate(z, mean, var, mean, var), z, atol=1e-6)


def test_fds_calibration_on_a_hand_case_with_clipping():
    z = torch.tensor([[2.0, 2.0, 2.0]])
    mean = torch.tensor([[0.0, 0.0, 5.0]])
    var = torch.tensor([[4.0, 0.01, 0.0]])
    smoothed_mean = torch.tensor([[1.0, 1.0, 1.0]])
    smoothed_var = torch.tensor([[1.0, 1.0, 1.0]])
    # (2 − 0)·√(1/4) + 1 = 2; ratio 100 clipped to 10: 2·√10 + 1; σ² = 0 leaves the dimension alone
    expected = torch.tensor([[2.0, 2 * 10**0.5 + 1, 2.0]])
    assert torch.allclose(calibrate(z, mean, var, smoothed_mean, smoothed_var), expected)


def test_feature_smoother_keeps_per_bin_statistics_of_each_epoch():
    smoother = FeatureSmoother(bins=3, window=np.ones(1), momentum=0.9, epoch_size=6)
    z = torch.tensor([[1.0], [3.0], [5.0], [5.0], [0.0], [2.0]])
    bins = torch.tensor([0, 0, 1, 1, 2, 2])
    smoother.observe(z[:3], bins[:3])
    assert not smoother.ready
    smoother.observe(z[3:], bins[3:])
    assert smoother.ready
    assert torch.allclose(smoother.stats["mean"].squeeze(1), torch.tensor([2.0, 5.0, 1.0], dtype=torch.float64))
    assert torch.allclose(smoother.stats["var"].squeeze(1), torch.tensor([2.0, 0.0, 2.0], dtype=torch.float64))
    smoother.observe(z + 10, bins)  # second epoch: momentum 0.9 keeps 90% of the old statistics
    assert torch.allclose(smoother.stats["mean"].squeeze(1), torch.tensor([3.0, 6.0, 2.0], dtype=torch.float64))


def test_fds_changes_training_passes_only():
    cfg = TrainConfig.model_validate({"objective": {"kind": "fds", "bins": 4}}).objective
    labels = torch.as_tensor(HAND_LABELS)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    x = torch.randn(len(labels), 2)
    objective = build_objective(cfg, "regression", None, labels)
    plain = build_objective(TrainConfig().objective, "regression", None, labels)
    assert torch.allclose(objective(model, x, labels), plain(model, x, labels))  # first epoch: no statistics yet
    assert not torch.allclose(objective(model, x, labels), plain(model, x, labels))  # calibrated from epoch 2
    with torch.no_grad():
        assert torch.equal(model(x), model(x))  # hooks are gone outside the objective
    assert len(model[2]._forward_pre_hooks) == 0


def test_even_kernel_size_is_refused():
    with pytest.raises(ValueError, match="kernel_size=4"):
        gaussian_window(4, 2.0)
