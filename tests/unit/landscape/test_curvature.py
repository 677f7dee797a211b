"""Hessian eigenvalue and trace, m-sharpness and local energy, checked on quadratics where they are known exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spotlab.tasks.landscape.analyses import FlatnessConfig, HessianConfig, SharpnessConfig, loss_and_error
from spotlab.tasks.landscape.hessian import hessian_trace, hessian_vector_product, top_eigenvalue
from spotlab.tasks.landscape.sharpness import local_energy, m_sharpness


def mse(out, y):
    return F.mse_loss(out.squeeze(-1), y)


def linear_regression(x: torch.Tensor, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(x.shape[1], 1, bias=False)


def data(n: int = 40, d: int = 5):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=generator) * torch.linspace(0.5, 2.0, d)
    return x, torch.randn(n, generator=generator)


def exact_hessian(x: torch.Tensor) -> np.ndarray:
    """mean (x·w − y)² has Hessian 2 XᵀX / n."""
    return (2 * x.T @ x / len(x)).double().numpy()


def test_hessian_vector_product_is_exact_and_chunking_does_not_matter():
    x, y = data()
    model = linear_regression(x)
    v = torch.randn(5)
    whole = hessian_vector_product(model, mse, [(x, y)], v)
    chunks = hessian_vector_product(model, mse, [(x[:13], y[:13]), (x[13:], y[13:])], v)
    expected = torch.as_tensor(exact_hessian(x)).float() @ v
    torch.testing.assert_close(whole, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(chunks, whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_power_iteration_and_lanczos_find_the_top_eigenvalue(method):
    x, y = data()
    eigen = top_eigenvalue(linear_regression(x), mse, [(x, y)], iterations=500, tol=1e-7, method=method)
    assert eigen.value == pytest.approx(np.linalg.eigvalsh(exact_hessian(x)).max(), rel=1e-4)
    assert eigen.iterations == len(eigen.history) < 500


def test_hutchinson_is_exact_for_a_diagonal_hessian():
    # orthogonal columns make XᵀX diagonal, where every Rademacher probe gives the trace exactly
    x = torch.diag(torch.tensor([1.0, 2.0, 3.0]))
    y = torch.zeros(3)
    mean, stderr = hessian_trace(linear_regression(x), mse, [(x, y)], samples=5)
    assert mean == pytest.approx(np.trace(exact_hessian(x)), rel=1e-6)
    assert stderr == pytest.approx(0.0, abs=1e-6)


def test_local_energy_of_a_quadratic_is_half_the_weighted_curvature():
    # E_z[L(w ⊙ (1 + σz))] − L(w) = σ²/2 · Σ_i H_ii w_i² for a quadratic loss; at the least-squares minimum the
    # linear term vanishes, so the Monte Carlo estimate has no first-order noise
    x, y = data()
    model = linear_regression(x)
    with torch.no_grad():
        model.weight.copy_(torch.linalg.lstsq(x, y[:, None]).solution.T)
    weights = model.weight.detach().clone()
    sigma = 0.2
    rows = local_energy(model, loss_and_error("regression"), x, y, [sigma], samples=2000)
    expected = sigma**2 / 2 * float((np.diag(exact_hessian(x)) * weights[0].double().numpy() ** 2).sum())
    assert rows[0]["delta_loss"] == pytest.approx(expected, rel=0.1)
    assert torch.equal(model.weight, weights)  # weights restored


def test_m_sharpness_grows_as_sub_batches_shrink_and_leaves_weights_alone():
    x, y = data()
    model = linear_regression(x)
    weights = model.weight.detach().clone()
    per_example = m_sharpness(model, mse, x, y, rho=0.1, m=1, steps=5)
    full_batch = m_sharpness(model, mse, x, y, rho=0.1, m=len(x), steps=5)
    assert per_example > full_batch > 0
    assert m_sharpness(model, mse, x, y, rho=0.2, m=len(x), steps=5) > full_batch
    assert torch.equal(model.weight, weights)


def test_analyses_report_rows_summaries_and_figures_for_a_classifier():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(30, 4), torch.randint(0, 3, (30,))
    for config in (HessianConfig(iterations=5, trace_samples=2), SharpnessConfig(m=[5, 30], steps=1),
                   FlatnessConfig(sigmas=[0.1, 1.0], samples=5)):
        result = config.run(model, x, y, "classification", seed=0)
        assert result.rows and result.summary and result.figure is not None
    flat = FlatnessConfig(sigmas=[0.01, 2.0], samples=20).run(model, x, y, "classification", 0)
    assert flat.rows[1]["delta_loss"] > flat.rows[0]["delta_loss"]
    assert set(flat.summary) == {"delta_error@0.01", "delta_error@2"}
    with pytest.raises(ValueError, match="sigmas"):
        FlatnessConfig(sigmas=[0.0]).run(model, x, y, "classification", 0)


def close_top_eigenvalues_problem():
    """A least-squares loss whose Hessian has eigenvalues 1, 0.9, 0.5, 0.3, 0.1 (λ₂/λ₁ = 0.9: slow power iteration)."""
    n = 40
    q, _ = torch.linalg.qr(torch.randn(n, 5, generator=torch.Generator().manual_seed(0)))
    x = q * torch.tensor([1.0, 0.9, 0.5, 0.3, 0.1]).sqrt() * (n / 2) ** 0.5
    return x, torch.zeros(n)


def test_default_stopping_rule_does_not_stop_short_when_the_top_eigenvalues_are_close():
    x, y = close_top_eigenvalues_problem()
    exact = np.linalg.eigvalsh(exact_hessian(x)).max()
    assert exact == pytest.approx(1.0, rel=1e-5)
    loose = top_eigenvalue(linear_regression(x), mse, [(x, y)], iterations=1000, tol=1e-3, method="power")
    assert abs(loose.value - exact) > 1e-4 * exact  # the old study setting stops short here
    for method in ("lanczos", "power"):
        run = HessianConfig(trace_samples=0, method=method).run(linear_regression(x), x, y, "regression", seed=0)
        assert run.summary["top_eigenvalue"] == pytest.approx(exact, rel=1e-4)


def test_lanczos_needs_fewer_products_than_power_iteration_when_the_top_eigenvalues_are_close():
    x, y = close_top_eigenvalues_problem()
    exact = np.linalg.eigvalsh(exact_hessian(x)).max()
    power = top_eigenvalue(linear_regression(x), mse, [(x, y)], iterations=1000, tol=1e-6, method="power")
    lanczos = top_eigenvalue(linear_regression(x), mse, [(x, y)], iterations=1000, tol=1e-6, method="lanczos")
    assert lanczos.value == pytest.approx(exact, rel=1e-5)
    # five distinct eigenvalues: the Krylov space is invariant after at most five products
    assert lanczos.iterations <= 5 < power.iterations


class SmallNet(nn.Module):
    """Nonlinear (tanh), with a BatchNorm layer whose running statistics are not the batch's, so eval mode matters."""

    def __init__(self):
        super().__init__()
        self.hidden, self.norm, self.out = nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 3)
        self.norm.running_mean.fill_(0.3)
        self.norm.running_var.fill_(2.0)

    def forward(self, x):
        return self.out(torch.tanh(self.norm(self.hidden(x))))


def dense_hessian(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The full Hessian of the eval-mode mean cross-entropy in the weights, by torch.autograd.functional.hessian."""
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(weights: torch.Tensor) -> torch.Tensor:
        pieces = [piece.view(shape) for piece, shape in zip(weights.split([s.numel() for s in shapes]), shapes)]
        return F.cross_entropy(torch.func.functional_call(model, dict(zip(names, pieces)), (x,)), y)

    model.eval()
    return torch.autograd.functional.hessian(loss, flat)


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_top_eigenvalue_and_trace_of_a_small_network_match_its_dense_hessian(method):
    torch.manual_seed(0)
    model = SmallNet().double()
    x, y = torch.randn(24, 3, dtype=torch.float64), torch.randint(0, 3, (24,))
    hessian = dense_hessian(model, x, y)
    eigenvalues = torch.linalg.eigvalsh(hessian)
    exact = float(eigenvalues[eigenvalues.abs().argmax()])
    model.train()  # the operator must evaluate in eval mode anyway
    eigen = top_eigenvalue(model, F.cross_entropy, [(x[:10], y[:10]), (x[10:], y[10:])], iterations=1000,
                           tol=1e-12, method=method)
    assert eigen.value == pytest.approx(exact, rel=1e-6)
    assert model.training  # the caller's mode is restored
    v = torch.randn(len(eigenvalues), dtype=torch.float64)
    torch.testing.assert_close(hessian_vector_product(model, F.cross_entropy, [(x, y)], v),
                               hessian @ v)


def test_the_first_order_graph_is_built_once_per_batch():
    x, y = data()

    class CountingLinear(nn.Linear):
        forwards = 0

        def forward(self, inputs):
            CountingLinear.forwards += 1
            return super().forward(inputs)

    torch.manual_seed(0)
    model = CountingLinear(5, 1, bias=False)
    eigen = top_eigenvalue(model, mse, [(x[:20], y[:20]), (x[20:], y[20:])], iterations=30, tol=1e-12)
    assert eigen.iterations > 2 and CountingLinear.forwards == 2
    assert eigen.value == pytest.approx(np.linalg.eigvalsh(exact_hessian(x)).max(), rel=1e-4)
