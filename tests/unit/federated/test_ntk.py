"""NTK-FL's server: a symmetric PSD kernel, dynamics that match the real network for small η·τ, integrators that
agree, τ* that minimises the real training loss on the grid, and projected uploads that stay exact in their
subspace."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spotlab.tasks.federated.jacobians import flat_parameters, outputs_at, per_sample_jacobians
from spotlab.tasks.federated.ntk import empirical_kernel, residual_sums, weight_updates
from spotlab.tasks.federated.ntkfl import NTKFLConfig, projection_matrix
from spotlab.tasks.federated.protocol import ClientJob


@pytest.fixture
def setting(make_model, data):
    model = make_model(hidden=(16,)).double()
    splits, _ = data
    x = torch.as_tensor(splits.x_train[:40]).double()
    y = torch.as_tensor(splits.y_train[:40])
    jac = per_sample_jacobians(model, x)
    with torch.no_grad():
        f0 = model(x)
    return model, x, y, jac, f0, F.one_hot(y, f0.shape[1]).double()


@pytest.mark.parametrize("kind", ["class-mean", "full"])
def test_kernel_is_symmetric_positive_semidefinite(setting, kind):
    _, _, _, jac, _, _ = setting
    kernel = empirical_kernel(jac, kind)
    n, c, _ = jac.shape
    assert kernel.shape == ((n, n) if kind == "class-mean" else (n * c, n * c))
    torch.testing.assert_close(kernel, kernel.T)
    eigenvalues = torch.linalg.eigvalsh(kernel)
    assert eigenvalues.min() >= -1e-9 * eigenvalues.max()


def test_class_mean_kernel_is_the_mean_of_the_full_kernels_class_blocks(setting):
    _, _, _, jac, _, _ = setting
    n, c, _ = jac.shape
    full = empirical_kernel(jac, "full").view(n, c, n, c)
    blocks = torch.stack([full[:, k, :, k] for k in range(c)])
    torch.testing.assert_close(empirical_kernel(jac, "class-mean"), blocks.mean(0))


def test_linearised_update_matches_the_real_network_for_small_steps(setting):
    # f0 + J·Δw(τ) is the first-order expansion of the real network at w + Δw(τ): the gap shrinks like ‖Δw‖²,
    # so halving η·τ divides it by about four, and it is small next to the change of the outputs.
    model, x, _, jac, f0, targets = setting
    kernel = empirical_kernel(jac, "full")
    w = flat_parameters(model)
    gaps, moves = [], []
    for tau in (8, 4, 2):
        sums = residual_sums(kernel, f0, targets, 0.05, [tau], "euler")
        dw = weight_updates(jac, sums, 0.05)[0]
        linear = f0 + (jac.reshape(-1, len(w)) @ dw).view_as(f0)
        real = outputs_at(model, w + dw, x)
        gaps.append(float((linear - real).norm()))
        moves.append(float((real - f0).norm()))
        # The Euler dynamics with the full kernel are this linear model: f_τ = f0 − (η/N) K S(τ).
        dynamics = f0 - (0.05 / len(f0)) * (kernel @ sums[0].reshape(-1)).view_as(f0)
        torch.testing.assert_close(dynamics, linear)
    assert gaps[0] < 0.05 * moves[0]
    assert 3 < gaps[0] / gaps[1] < 5 and 3 < gaps[1] / gaps[2] < 5


@pytest.mark.parametrize("kind", ["class-mean", "full"])
def test_rk45_and_euler_agree_when_the_step_is_small(setting, kind):
    _, _, _, jac, f0, targets = setting
    kernel = empirical_kernel(jac, kind)
    taus = [50, 100, 200]
    euler = residual_sums(kernel, f0, targets, 1e-3, taus, "euler")
    rk45 = residual_sums(kernel, f0, targets, 1e-3, taus, "rk45")
    assert euler.shape == (3, *f0.shape)
    torch.testing.assert_close(rk45, euler, rtol=1e-3, atol=1e-4)


def test_server_keeps_the_tau_with_the_lowest_real_training_loss(make_model, data):
    model = make_model(hidden=(16,))
    splits, _ = data
    x, y = torch.as_tensor(splits.x_train[:60]), torch.as_tensor(splits.y_train[:60])
    cfg = NTKFLConfig(lr=0.5, taus=[1, 5, 20, 80, 320])
    algorithm = cfg.build()
    uploads = [algorithm.client_update(ClientJob(0, c, x[c::2], y[c::2], model, seed=0)) for c in range(2)]
    weights, extra = algorithm.server_update(model, uploads, seed=0, round_index=0)
    # Recompute every candidate's loss on the round's examples, in upload order.
    xs = torch.cat([x[0::2], x[1::2]])
    ys = torch.cat([y[0::2], y[1::2]])
    jac = per_sample_jacobians(model, xs)
    with torch.no_grad():
        f0 = model(xs)
    sums = residual_sums(empirical_kernel(jac, "class-mean"), f0, F.one_hot(ys, 3).float(), cfg.lr, cfg.taus, "euler")
    w = flat_parameters(model)
    losses = [float(F.cross_entropy(outputs_at(model, w + dw, xs), ys)) for dw in weight_updates(jac, sums, cfg.lr)]
    best = min(range(len(losses)), key=losses.__getitem__)
    assert extra["tau"] == cfg.taus[best]
    assert extra["train_loss"] == pytest.approx(min(losses), rel=1e-5)
    assert len(set(round(v, 4) for v in losses)) > 1  # the grid's candidates really differ
    torch.testing.assert_close(weights, w + weight_updates(jac, sums, cfg.lr)[best], rtol=1e-4, atol=1e-6)


def test_projected_upload_is_exact_ntk_fl_in_the_rounds_random_subspace(setting):
    # The subspace model w + R z has Jacobian J R: its linearisation at Δw = R Δz holds like the full one's.
    model, x, _, jac, f0, targets = setting
    w = flat_parameters(model)
    dim = len(w) // 4
    r = projection_matrix(len(w), dim, seed=3, round_index=1, device=w.device).double()
    projected = jac @ r
    sums = residual_sums(empirical_kernel(projected, "full"), f0, targets, 0.05, [4], "euler")
    dz = weight_updates(projected, sums, 0.05)[0]
    linear = f0 + (projected.reshape(-1, dim) @ dz).view_as(f0)
    real = outputs_at(model, w + r @ dz, x)
    assert float((linear - real).norm()) < 0.05 * float((real - f0).norm())
    assert torch.equal(r, projection_matrix(len(w), dim, seed=3, round_index=1, device=w.device).double())


def test_projected_kernel_approaches_the_full_one_as_the_dimension_grows(setting):
    _, _, _, jac, _, _ = setting
    full = empirical_kernel(jac, "class-mean")
    p = jac.shape[2]

    def error(dim):
        r = projection_matrix(p, dim, seed=0, round_index=0, device=jac.device).double()
        return float((empirical_kernel(jac @ r, "class-mean") - full).norm() / full.norm())

    assert error(4 * p) < error(p // 4) < 1.0
