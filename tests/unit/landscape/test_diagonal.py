"""Diagonal linear networks: gradients against autograd, the ρ = 0 identities and the direction of the study."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spotlab.tasks.landscape import diagonal


@pytest.fixture
def problem():
    return diagonal.sparse_regression(n=8, d=6, sparsity=2, n_test=50, seed=0)


def test_data_are_a_noiseless_sparse_unit_norm_target(problem):
    assert np.linalg.norm(problem.beta_star) == pytest.approx(1.0)
    assert np.count_nonzero(problem.beta_star) == 2 and np.all(problem.beta_star[:2] > 0)
    np.testing.assert_allclose(problem.x @ problem.beta_star, problem.y)
    assert diagonal.loss(problem.x_test, problem.y_test, problem.beta_star) == 0.0


def test_gradients_match_autograd(problem):
    rng = np.random.default_rng(1)
    u, v = rng.normal(size=6), rng.normal(size=6)
    tu, tv = (torch.tensor(a, requires_grad=True) for a in (u, v))
    x, y = torch.tensor(problem.x), torch.tensor(problem.y)
    ((x @ (tu * tv) - y).square().sum() / (2 * len(y))).backward()
    g_u, g_v = diagonal._gradients(problem.x, problem.y, u, v)
    np.testing.assert_allclose(g_u, tu.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(g_v, tv.grad.numpy(), rtol=1e-10)


def test_one_sam_averages_per_example_gradients_at_per_example_ascent_points(problem):
    rng = np.random.default_rng(2)
    u, v, rho = rng.normal(size=6), rng.normal(size=6), 0.05
    x, y = torch.tensor(problem.x), torch.tensor(problem.y)
    expected_u, expected_v = torch.zeros(6, dtype=torch.float64), torch.zeros(6, dtype=torch.float64)
    for k in range(len(y)):
        tu, tv = (torch.tensor(a, requires_grad=True) for a in (u, v))
        (x[k] @ (tu * tv) - y[k]).square().backward()  # ascend along the per-example loss (x_k·β − y_k)²
        pu, pv = (torch.tensor(a + rho * g.numpy(), requires_grad=True) for a, g in ((u, tu.grad), (v, tv.grad)))
        ((x[k] @ (pu * pv) - y[k]).square() / 2).backward()
        expected_u += pu.grad / len(y)
        expected_v += pv.grad / len(y)
    g_u, g_v = diagonal._one_sam_gradients(problem.x, problem.y, u, v, rho)
    np.testing.assert_allclose(g_u, expected_u.numpy(), rtol=1e-10)
    np.testing.assert_allclose(g_v, expected_v.numpy(), rtol=1e-10)


def test_zero_radius_sam_is_gd(problem):
    gd = diagonal.train(problem, "gd", 0.0, alpha=0.1, step=0.1, iterations=200)
    np.testing.assert_array_equal(diagonal.train(problem, "n-sam", 0.0, alpha=0.1, step=0.1, iterations=200), gd)
    np.testing.assert_allclose(diagonal.train(problem, "1-sam", 0.0, alpha=0.1, step=0.1, iterations=200), gd,
                               rtol=1e-9, atol=1e-12)


def test_divergence_is_reported():
    problem = diagonal.sparse_regression(n=20, d=30, sparsity=3, n_test=10, seed=0)
    with pytest.raises(FloatingPointError, match="diverged"):
        diagonal.train(problem, "gd", 0.0, alpha=1.0, step=10.0, iterations=100)


def test_summary_measures_mass_off_the_support(problem):
    beta = problem.beta_star.copy()
    beta[-1] = -0.5
    values = diagonal.summary(problem, beta)
    assert values["off_support_l1"] == pytest.approx(0.5)
    assert values["l1_norm"] == pytest.approx(np.abs(problem.beta_star).sum() + 0.5)
