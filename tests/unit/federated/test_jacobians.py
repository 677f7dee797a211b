"""Per-sample Jacobians: equal to finite differences, and the batched (vmap) and looped forms agree."""

from __future__ import annotations

import torch
from torch import nn

from spotlab.tasks.federated.jacobians import (
    flat_parameters,
    outputs_at,
    per_sample_jacobians,
    per_sample_jacobians_loop,
)


def two_layer_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()


def test_jacobian_of_a_two_layer_mlp_equals_central_differences():
    model = two_layer_mlp()
    x = torch.randn(5, 4, dtype=torch.float64)
    jac = per_sample_jacobians(model, x)
    w = flat_parameters(model)
    assert jac.shape == (5, 3, len(w))
    eps = 1e-6
    numeric = torch.stack([
        (outputs_at(model, w + eps * e, x) - outputs_at(model, w - eps * e, x)) / (2 * eps)
        for e in torch.eye(len(w), dtype=torch.float64)
    ], dim=2)
    torch.testing.assert_close(jac, numeric, rtol=1e-6, atol=1e-8)


def test_batched_chunked_and_looped_jacobians_agree(make_model, data):
    model = make_model()
    x = torch.as_tensor(data[0].x_train[:13])
    reference = per_sample_jacobians_loop(model, x)
    torch.testing.assert_close(per_sample_jacobians(model, x), reference)
    torch.testing.assert_close(per_sample_jacobians(model, x, chunk_size=4), reference)


def test_outputs_at_leaves_the_module_unchanged():
    model = two_layer_mlp()
    x = torch.randn(3, 4, dtype=torch.float64)
    before = model(x).detach()
    shifted = outputs_at(model, flat_parameters(model) + 0.1, x)
    assert not torch.allclose(shifted, before)
    torch.testing.assert_close(model(x).detach(), before)
