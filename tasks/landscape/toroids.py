"""Symmetry removal and mode connectivity for ReLU networks (Pittorino et al., "Deep networks on toroids").

A ReLU network computes the same function after (i) scaling a hidden unit's incoming weights and bias by s > 0
and its outgoing weights by 1/s, and (ii) permuting hidden units. Standardisation removes (i): every hidden unit's
incoming (weights, bias) gets unit norm, bottom-up, the scale moving into the next layer; the last layer is
normalised as a whole (logits shrink by a positive factor, so predictions are unchanged). The standardised weights
live on a product of spheres (one per hidden unit, one for the last layer). Alignment removes (ii) layer by layer
with the Hungarian method on the cosine matrix of units' incoming weights.

Works on chains of Linear/Conv2d layers separated by ReLU, max/average pooling and flatten (``mlp`` and
``cnn-small`` from models/), where a unit is an output feature or channel. Parameters travel as plain dicts
``{module name: (weight, bias or None)}`` of the weight layers, so paths are evaluated with
``torch.func.functional_call`` on one template model.
"""

from __future__ import annotations

import copy
from typing import Callable, Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from spotlab.models.registry import Normalize

Layers = dict[str, tuple[torch.Tensor, torch.Tensor | None]]
_HOMOGENEOUS = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity, Normalize)


def weight_layers(model: nn.Module) -> list[str]:
    """Names of the Linear/Conv2d modules in order, after checking the network has the symmetries used here."""
    names, widths = [], []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            names.append(name)
            widths.append((module.weight.shape[1], module.weight.shape[0]))
        elif not list(module.children()) and not isinstance(module, _HOMOGENEOUS):
            raise ValueError(f"toroidal analyses need a ReLU chain of Linear/Conv2d layers (kinds mlp, cnn-small); "
                             f"{name!r} is a {type(module).__name__} (fold BatchNorm-like layers first)")
    for (_, out), (fan_in, _), name in zip(widths, widths[1:], names[1:]):
        if fan_in != out:
            raise ValueError(f"layer {name!r} takes {fan_in} inputs from {out} units: pool to 1×1 before flattening")
    if len(names) < 2:
        raise ValueError("toroidal analyses need at least one hidden layer")
    return names


def layers_of(model: nn.Module) -> Layers:
    modules = dict(model.named_modules())
    return {
        name: (modules[name].weight.detach().clone(),
               None if modules[name].bias is None else modules[name].bias.detach().clone())
        for name in weight_layers(model)
    }


def load_layers(template: nn.Module, layers: Layers) -> nn.Module:
    model = copy.deepcopy(template)
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, (weight, bias) in layers.items():
            modules[name].weight.copy_(weight)
            if bias is not None:
                modules[name].bias.copy_(bias)
    return model


def as_params(layers: Layers) -> dict[str, torch.Tensor]:
    """The ``functional_call`` view of ``layers``."""
    params = {}
    for name, (weight, bias) in layers.items():
        params[f"{name}.weight"] = weight
        if bias is not None:
            params[f"{name}.bias"] = bias
    return params


def rows(weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """One row per unit: its incoming weights (flattened) and bias."""
    flat = weight.flatten(1)
    return flat if bias is None else torch.cat([flat, bias[:, None]], dim=1)


def from_rows(unit_rows: torch.Tensor, like: tuple[torch.Tensor, torch.Tensor | None]):
    weight, bias = like
    if bias is None:
        return unit_rows.reshape(weight.shape), None
    return unit_rows[:, :-1].reshape(weight.shape), unit_rows[:, -1].clone()


def _scale_inputs(weight: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return weight * scale.reshape(1, -1, *([1] * (weight.dim() - 2)))


def standardize_hidden(model: nn.Module) -> Layers:
    """Every hidden unit's (incoming weights, bias) scaled to unit norm, bottom-up; the function is unchanged."""
    layers = layers_of(model)
    names = list(layers)
    for name, following in zip(names, names[1:]):
        unit_rows = rows(*layers[name])
        norms = unit_rows.norm(dim=1)
        norms = torch.where(norms > 0, norms, torch.ones_like(norms))  # a dead unit (all zeros) stays as it is
        layers[name] = from_rows(unit_rows / norms[:, None], layers[name])
        weight, bias = layers[following]
        layers[following] = (_scale_inputs(weight, norms), bias)
    return layers


def output_norm(layers: Layers) -> float:
    return float(rows(*layers[list(layers)[-1]]).norm())


def standardize(model: nn.Module) -> tuple[nn.Module, float]:
    """The standardised network (hidden units and last layer of unit norm) and the norm taken off the last layer."""
    layers = standardize_hidden(model)
    last = list(layers)[-1]
    norm = output_norm(layers)
    layers[last] = tuple(None if t is None else t / norm for t in layers[last])
    return load_layers(model, layers), norm


def permute(model: nn.Module, permutations: Sequence[np.ndarray]) -> nn.Module:
    """Hidden layer l's units reordered by ``permutations[l]`` (new unit i = old unit π[i]); same function."""
    layers = layers_of(model)
    names = list(layers)
    for name, following, order in zip(names, names[1:], permutations):
        order = torch.as_tensor(order)
        weight, bias = layers[name]
        layers[name] = (weight[order], None if bias is None else bias[order])
        weight, bias = layers[following]
        layers[following] = (weight[:, order], bias)
    return load_layers(model, layers)


def align(reference: nn.Module, other: nn.Module) -> tuple[nn.Module, list[np.ndarray]]:
    """``other`` hidden-standardised, with its hidden units permuted to match the hidden-standardised
    ``reference`` (maximum total cosine similarity of incoming weights, layer by layer, each layer's inputs already
    in the reference's order); also the permutations. Standardising first, as the method does, takes the scale
    symmetry out of the deeper layers' incoming weights, whose columns it would otherwise rescale."""
    ref_layers, layers = standardize_hidden(reference), standardize_hidden(other)
    names = list(layers)
    permutations = []
    for name, following in zip(names, names[1:]):
        a = nn.functional.normalize(rows(*ref_layers[name]), dim=1)
        b = nn.functional.normalize(rows(*layers[name]), dim=1)
        _, order = linear_sum_assignment((a @ b.T).double().numpy(), maximize=True)
        permutations.append(order)
        index = torch.as_tensor(order)
        weight, bias = layers[name]
        layers[name] = (weight[index], None if bias is None else bias[index])
        weight, bias = layers[following]
        layers[following] = (weight[:, index], bias)
    return load_layers(other, layers), permutations


def spheres(layers: Layers) -> list[torch.Tensor]:
    """The points on the product of spheres: each hidden layer's unit rows, the last layer as one unit row."""
    names = list(layers)
    points = [nn.functional.normalize(rows(*layers[n]), dim=1) for n in names[:-1]]
    return points + [nn.functional.normalize(rows(*layers[names[-1]]).reshape(1, -1), dim=1)]


def distances(a: Layers, b: Layers) -> dict[str, float]:
    """Geodesic distance on the product of spheres √(Σ θ²) and the Euclidean distance of the standardised weights."""
    angles = torch.cat([torch.arccos((p * q).sum(1).clamp(-1, 1)) for p, q in zip(spheres(a), spheres(b))])
    euclid = torch.cat([(p - q).flatten() for p, q in zip(spheres(a), spheres(b))]).norm()
    return {"geodesic": float(angles.norm()), "euclidean": float(euclid)}


def _slerp(p: torch.Tensor, q: torch.Tensor, t: float) -> torch.Tensor:
    theta = torch.arccos((p * q).sum(1, keepdim=True).clamp(-1, 1))
    small = theta < 1e-6  # coincident points: the great circle is undefined, the chord is exact enough
    sin = torch.where(small, torch.ones_like(theta), torch.sin(theta))
    arc = (torch.sin((1 - t) * theta) * p + torch.sin(t * theta) * q) / sin
    return torch.where(small, (1 - t) * p + t * q, arc)


def geodesic_point(a: Layers, b: Layers, t: float) -> Layers:
    """Point t ∈ [0, 1] of the geodesic between two hidden-standardised networks: great circles per hidden unit and
    for the last layer's direction, whose norm is interpolated linearly."""
    names = list(a)
    point: Layers = {}
    for name, p, q in zip(names[:-1], spheres(a)[:-1], spheres(b)[:-1]):
        point[name] = from_rows(_slerp(p, q, t), a[name])
    last = names[-1]
    direction = _slerp(spheres(a)[-1], spheres(b)[-1], t)[0]
    norm = (1 - t) * output_norm(a) + t * output_norm(b)
    point[last] = from_rows((direction * norm).reshape(rows(*a[last]).shape), a[last])
    return point


def linear_point(a: Layers, b: Layers, t: float) -> Layers:
    return {n: tuple(None if x is None else (1 - t) * x + t * y for x, y in zip(a[n], b[n])) for n in a}


def bend_point(a: Layers, bend: Layers, b: Layers, t: float) -> Layers:
    """The polygonal chain a → bend (t = ½) → b."""
    return linear_point(a, bend, 2 * t) if t <= 0.5 else linear_point(bend, b, 2 * t - 1)


def curve(
    template: nn.Module,
    point: Callable[[float], Layers],
    ts: Sequence[float],
    x: torch.Tensor,
    y: torch.Tensor,
    metrics: Callable[[torch.Tensor, torch.Tensor], dict[str, float]],
) -> list[dict[str, float]]:
    """``metrics`` of the network at each t along a path (eval mode, no gradients)."""
    was_training = template.training
    template.eval()
    with torch.no_grad():
        values = [{"t": float(t), **metrics(torch.func.functional_call(template, as_params(point(t)), (x,)), y)}
                  for t in ts]
    template.train(was_training)
    return values


def barrier(values: Sequence[float]) -> float:
    """max_t [E(t) − ((1 − t) E(0) + t E(1))] for values on an even grid of t from 0 to 1."""
    ts = np.linspace(0, 1, len(values))
    values = np.asarray(values, dtype=float)
    return float(np.max(values - ((1 - ts) * values[0] + ts * values[-1])))


def train_bend(
    template: nn.Module,
    a: Layers,
    b: Layers,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> Layers:
    """Garipov et al.'s polygonal chain with one bend: the bend starts at the midpoint and minimises
    E_{t ~ U(0, 1)} L(chain(t)) by Adam on random mini-batches and random t."""
    generator = torch.Generator().manual_seed(seed)
    bend = {n: tuple(None if t is None else t.clone().requires_grad_(True) for t in pair)
            for n, pair in linear_point(a, b, 0.5).items()}
    optimizer = torch.optim.Adam([t for pair in bend.values() for t in pair if t is not None], lr=lr)
    was_training = template.training
    template.eval()
    for _ in range(steps):
        index = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=generator)
        t = float(torch.rand((), generator=generator))
        params = as_params(bend_point(a, bend, b, t))
        loss = loss_fn(torch.func.functional_call(template, params, (x[index],)), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    template.train(was_training)
    return {n: tuple(None if t is None else t.detach() for t in pair) for n, pair in bend.items()}
