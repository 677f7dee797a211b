"""Threat models: projections land in the ball ∩ box, random starts are feasible, rounding hits the grid."""

from __future__ import annotations

import pytest
import torch

from spotlab.tasks.attack.threat import feasible, norms, project, quantize, random_start, steepest_direction


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_projection_is_feasible_and_idempotent(norm):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 1, 8, 8, generator=g)
    far = x + 3 * torch.randn(16, 1, 8, 8, generator=g)
    p = project(far, x, 0.3, norm, (0.0, 1.0))
    assert feasible(p, x, 0.3, norm, (0.0, 1.0)).all()
    assert torch.allclose(project(p, x, 0.3, norm, (0.0, 1.0)), p, atol=1e-6)


def test_linf_projection_is_the_exact_clamp():
    x = torch.tensor([[0.5, 0.95, 0.0]])
    v = torch.tensor([[0.9, 1.2, -0.4]])
    assert torch.allclose(project(v, x, 0.1, "linf", (0.0, 1.0)), torch.tensor([[0.6, 1.0, 0.0]]))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_random_start_is_feasible_and_seeded(norm):
    x = torch.rand(32, 64, generator=torch.Generator().manual_seed(1))
    a = random_start(x, 0.2, norm, (0.0, 1.0), torch.Generator().manual_seed(5))
    b = random_start(x, 0.2, norm, (0.0, 1.0), torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and feasible(a, x, 0.2, norm, (0.0, 1.0)).all()
    assert (norms(a - x, norm) > 0).all()


def test_steepest_direction_has_unit_norm():
    g = torch.randn(4, 10)
    assert torch.allclose(norms(steepest_direction(g, "l2"), "l2"), torch.ones(4))
    assert torch.equal(steepest_direction(g, "linf"), g.sign())


def test_quantize_rounds_to_the_grid():
    x = torch.tensor([0.0, 0.03, 0.04, 0.51, 1.0])
    assert torch.equal(quantize(x, 16) * 16, torch.tensor([0.0, 0.0, 1.0, 8.0, 16.0]))
    assert quantize(x, None) is x
