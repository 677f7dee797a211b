"""FSPI's update: the KDE repulsion against finite differences, the bandwidth on a hand case, the projection, the
prior, and the reduction to independent members with a shared head when repulsion and prior are off."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from spotlab.models.cnn import CNNSmallConfig
from spotlab.models.ensemble import Ensemble
from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.tasks.ensemble.config import DeepEnsembleConfig, FSPIConfig
from spotlab.tasks.ensemble.fspi import (kde_log_density_grad, median_bandwidth, prior_grad, projection_basis,
                                         repulsion)
from spotlab.tasks.train.loop import train_step
from spotlab.tasks.train.optimizers import SGDConfig


def log_kde(z: torch.Tensor, p: int, bandwidth: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(-((z[p] - z) ** 2).sum(-1) / bandwidth[p], 0)


def bandwidth_of(z: torch.Tensor) -> torch.Tensor:
    return median_bandwidth(((z[:, None] - z[None]) ** 2).sum(-1))


def test_bandwidth_is_the_squared_median_squared_distance_over_log_m():
    z = torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64)
    # squared distances from each point (itself included): [0, 1, 9], [1, 0, 4], [9, 4, 0] → medians 1, 1, 4
    expected = torch.tensor([1.0, 1.0, 16.0], dtype=torch.float64) / math.log(3) + 1e-12
    assert torch.allclose(bandwidth_of(z), expected)


def test_kde_gradient_equals_finite_differences_of_log_kernel_sum():
    z = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    bandwidth, grad, step = bandwidth_of(z), kde_log_density_grad(z), 1e-6
    for p in range(5):
        for k in range(3):
            plus, minus = z.clone(), z.clone()
            plus[p, k] += step
            minus[p, k] -= step
            numeric = (log_kde(plus, p, bandwidth) - log_kde(minus, p, bandwidth)) / (2 * step)
            assert grad[p, k] == pytest.approx(float(numeric), rel=1e-6, abs=1e-8)


def test_projection_basis_is_orthonormal_and_spans_the_gradients():
    grads = torch.randn(4, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    basis = projection_basis(grads, projection_dim=4)
    assert torch.allclose(basis @ basis.T, torch.eye(4, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(grads @ basis.T @ basis, grads, atol=1e-10)
    assert projection_basis(grads, projection_dim=2).shape == (2, 30)


def test_repulsion_is_the_feature_gradient_of_the_projected_log_kernel_sum():
    generator = torch.Generator().manual_seed(2)
    features = torch.randn(4, 6, 5, dtype=torch.float64, generator=generator)
    loss_grads = torch.randn(4, 6, 5, dtype=torch.float64, generator=generator)
    basis = projection_basis(loss_grads.flatten(1), 3)
    bandwidth = bandwidth_of(features.flatten(1) @ basis.T)
    variable = features.clone().requires_grad_()
    # Member p's repulsion is the gradient of its own log-sum only (the other members' sums are not differentiated).
    expected = torch.stack([torch.autograd.grad(log_kde(variable.flatten(1) @ basis.T, p, bandwidth), variable)[0][p]
                            for p in range(4)])
    assert torch.allclose(repulsion(features, loss_grads, 3), expected, atol=1e-10)


@pytest.mark.parametrize("kind, negative_log_prior", [
    ("cauchy", lambda h, s: torch.log1p(s * h**2).sum()),
    ("gaussian", lambda h, s: (s * h**2 / 2).sum()),
])
def test_prior_gradient_is_the_gradient_of_the_negative_log_prior(kind, negative_log_prior):
    h = torch.randn(3, 4, 5, dtype=torch.float64).requires_grad_()
    (expected,) = torch.autograd.grad(negative_log_prior(h, 0.3), h)
    assert torch.allclose(prior_grad(h.detach(), kind, 0.3), expected)
    assert not prior_grad(h.detach(), "none", 0.3).any()


def members(config, count: int = 3) -> list[torch.nn.Sequential]:
    torch.manual_seed(0)
    return [build_model(config, (1, 8, 8), 4, [0.5], [0.25]) for _ in range(count)]


def one_step_each(models, x, y):
    """Parameter gradients of each standalone model's own cross-entropy step."""
    grads = []
    for model in models:
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        grads.append({name: p.grad.clone() for name, p in model.named_parameters()})
    return grads


@pytest.mark.parametrize("config", [MLPConfig(hidden=[16, 8]), CNNSmallConfig(channels=[4], hidden=8)],
                         ids=lambda c: c.kind)
def test_fspi_without_repulsion_and_prior_is_independent_members_with_a_shared_head(config):
    models = members(config)
    for model in models[1:]:  # the shared head starts as member 0's head
        model.net[-1].load_state_dict(models[0].net[-1].state_dict())
    ensemble = Ensemble(copy.deepcopy(models), shared_head=True)
    x, y = torch.rand(10, 1, 8, 8), torch.randint(0, 4, (10,))
    expected = one_step_each(models, x, y)
    ensemble.zero_grad()
    FSPIConfig(repulsion=False, prior="none").build()(ensemble, x, y).backward()
    encoder_names = [n for n, _ in models[0].named_parameters() if not n.startswith(f"net.{len(models[0].net) - 1}.")]
    assert ensemble._names == encoder_names
    for i, name in enumerate(encoder_names):
        assert torch.allclose(ensemble.encoder[i].grad, torch.stack([g[name] for g in expected]), atol=1e-6)
    head = f"net.{len(models[0].net) - 1}"
    assert torch.allclose(ensemble.head_weight.grad[0], torch.stack([g[f"{head}.weight"] for g in expected]).mean(0),
                          atol=1e-6)
    assert torch.allclose(ensemble.head_bias.grad[0], torch.stack([g[f"{head}.bias"] for g in expected]).mean(0),
                          atol=1e-6)


def test_one_stacked_step_equals_independent_steps_for_deep_ensembles():
    models = members(MLPConfig(hidden=[16, 8]))
    ensemble = Ensemble(copy.deepcopy(models), shared_head=False)
    x, y = torch.rand(10, 1, 8, 8), torch.randint(0, 4, (10,))
    sgd = SGDConfig(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    for model in models:
        train_step(model, sgd.build(model.parameters()), lambda m, a, b: F.cross_entropy(m(a), b), x, y)
    train_step(ensemble, sgd.build(ensemble.parameters()), DeepEnsembleConfig().build(), x, y)
    assert torch.allclose(ensemble.member_logits(x), torch.stack([m(x) for m in models]), atol=1e-5)


def test_fspi_loss_value_is_the_mean_member_loss_and_repulsion_changes_the_encoder_update():
    ensemble = Ensemble(members(MLPConfig(hidden=[16, 8])), shared_head=True)
    x, y = torch.rand(10, 1, 8, 8), torch.randint(0, 4, (10,))
    plain_loss = FSPIConfig(repulsion=False, prior="none").build()(ensemble, x, y)
    plain_loss.backward()
    plain_loss = plain_loss.detach()
    plain = ensemble.encoder[0].grad.clone()
    ensemble.zero_grad()
    repelled_loss = FSPIConfig(prior="none").build()(ensemble, x, y)
    repelled_loss.backward()
    repelled_loss = repelled_loss.detach()
    with torch.no_grad():
        losses = torch.stack([F.cross_entropy(logits, y) for logits in ensemble.member_logits(x)])
    assert float(plain_loss) == pytest.approx(float(losses.mean())) == pytest.approx(float(repelled_loss))
    assert not torch.allclose(ensemble.encoder[0].grad, plain)


def test_descending_the_repulsion_spreads_the_members_apart():
    z = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    bandwidth = bandwidth_of(z)
    moved = z - 1e-3 * kde_log_density_grad(z)
    assert all(log_kde(moved, p, bandwidth) < log_kde(z, p, bandwidth) for p in range(5))
    assert torch.pdist(moved).sum() > torch.pdist(z).sum()
