"""Per-sample Jacobians of a network's outputs with respect to its parameters, and the flat-parameter helpers.

``per_sample_jacobians`` is one batched program: ``jacrev`` differentiates the single-example forward pass and
``vmap`` maps it over the examples (in chunks, to bound memory), so no Python loop runs per example.
``per_sample_jacobians_loop`` is the same quantity one example at a time: the reference the benchmark compares
against (benchmarks/bench_federated.py) and the tests check equality with.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap


def flat_parameters(model: nn.Module) -> torch.Tensor:
    """All parameters as one detached vector, in ``named_parameters`` order (the Jacobians' column order)."""
    return torch.nn.utils.parameters_to_vector(p.detach() for p in model.parameters())


def parameter_dict(model: nn.Module, flat: torch.Tensor) -> dict[str, torch.Tensor]:
    """``flat`` cut back into the model's named parameters (for ``functional_call``)."""
    out, start = {}, 0
    for name, p in model.named_parameters():
        out[name] = flat[start : start + p.numel()].view_as(p)
        start += p.numel()
    return out


def outputs_at(model: nn.Module, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The real network's outputs on ``x`` with its parameters replaced by ``flat`` (the module is not changed)."""
    with torch.no_grad():
        return functional_call(model, (parameter_dict(model, flat), dict(model.named_buffers())), (x,))


def _single_example(model: nn.Module):
    buffers = dict(model.named_buffers())

    def forward(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, (params, buffers), (x.unsqueeze(0),)).squeeze(0)

    return forward


def _stacked(model: nn.Module, jac: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([jac[name].flatten(2) for name, _ in model.named_parameters()], dim=2)


def per_sample_jacobians(model: nn.Module, x: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """J[i, c, p] = ∂f_c(x_i)/∂w_p, shape (N, C, P), batched with ``vmap(jacrev(...))``."""
    params = {name: p.detach() for name, p in model.named_parameters()}
    jac = vmap(jacrev(_single_example(model)), in_dims=(None, 0), chunk_size=chunk_size)(params, x)
    return _stacked(model, jac)


def per_sample_jacobians_loop(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The same J, one ``jacrev`` per example in a Python loop (the unbatched reference)."""
    params = {name: p.detach() for name, p in model.named_parameters()}
    jacobian = jacrev(_single_example(model))
    rows = [_stacked(model, {k: v.unsqueeze(0) for k, v in jacobian(params, xi).items()}) for xi in x]
    return torch.cat(rows)
