"""Standardisation, alignment, geodesics, barriers and the bend path on small ReLU networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from spotlab.models.cnn import CNNSmallConfig
from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.tasks.landscape.analyses import loss_and_error
from spotlab.tasks.landscape.toroids import (
    align,
    barrier,
    bend_point,
    curve,
    distances,
    geodesic_point,
    layers_of,
    linear_point,
    load_layers,
    permute,
    spheres,
    standardize,
    standardize_hidden,
    train_bend,
)


def mlp(seed: int, hidden=(12, 10), bias: bool = True) -> nn.Module:
    torch.manual_seed(seed)
    model = build_model(MLPConfig(hidden=list(hidden), bias=bias), (1, 4, 4), 3, [0.5], [0.25])
    with torch.no_grad():  # non-trivial unit norms, so standardisation has something to undo
        for p in model.parameters():
            p.mul_(torch.rand(p.shape[0], *([1] * (p.dim() - 1))) * 3 + 0.2)
    return model


def inputs(n: int = 64) -> torch.Tensor:
    return torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("bias", [True, False])
def test_standardised_mlp_has_identical_predictions_and_unit_norm_units(bias):
    model, x = mlp(0, bias=bias), inputs()
    standard, norm = standardize(model)
    before, after = model(x), standard(x)
    assert torch.equal(before.argmax(1), after.argmax(1))
    torch.testing.assert_close(after * norm, before, rtol=1e-4, atol=1e-5)
    for point in spheres(layers_of(standard)):
        torch.testing.assert_close(point.norm(dim=1), torch.ones(len(point)))
    # the hidden-only standardisation keeps the logits themselves
    torch.testing.assert_close(torch.func.functional_call(model, {f"{n}.{k}": t for n, (w, b) in
                               standardize_hidden(model).items() for k, t in (("weight", w), ("bias", b))
                               if t is not None}, (x,)), before, rtol=1e-4, atol=1e-5)


def test_standardised_cnn_has_identical_predictions():
    torch.manual_seed(0)
    model = build_model(CNNSmallConfig(channels=[4, 6], hidden=8), (1, 8, 8), 3, [0.5], [0.25])
    x = torch.rand(16, 1, 8, 8)
    standard, norm = standardize(model)
    torch.testing.assert_close(standard(x) * norm, model(x), rtol=1e-4, atol=1e-5)


def test_a_random_hidden_permutation_is_recovered_exactly():
    model = mlp(0)
    rng = np.random.default_rng(0)
    shuffles = [rng.permutation(12), rng.permutation(10)]
    shuffled = permute(model, shuffles)
    x = inputs()
    torch.testing.assert_close(shuffled(x), model(x), rtol=1e-5, atol=1e-6)  # same function
    aligned, found = align(model, shuffled)
    assert all(np.array_equal(f, np.argsort(s)) for f, s in zip(found, shuffles))
    a, b = standardize_hidden(model), standardize_hidden(aligned)
    assert distances(a, b) == {"geodesic": pytest.approx(0, abs=1e-3), "euclidean": pytest.approx(0, abs=1e-5)}
    assert distances(a, standardize_hidden(shuffled))["euclidean"] > 1


def test_alignment_standardises_first_so_it_ignores_the_scale_symmetry():
    """Two different networks: rescaling the other's hidden units (same function) must not change the matching."""
    model, other = mlp(0), mlp(1)
    rescaled = layers_of(other)
    first, second = list(rescaled)[:2]
    scale = torch.as_tensor(10.0 ** np.random.default_rng(1).uniform(-1, 1, 12), dtype=torch.float32)
    rescaled[first] = (rescaled[first][0] * scale[:, None], rescaled[first][1] * scale)
    rescaled[second] = (rescaled[second][0] / scale, rescaled[second][1])
    twin = load_layers(other, rescaled)
    x = inputs()
    torch.testing.assert_close(twin(x), other(x), rtol=1e-4, atol=1e-4)
    _, found = align(model, other)
    aligned, found_twin = align(model, twin)
    assert all(np.array_equal(a, b) for a, b in zip(found, found_twin))
    torch.testing.assert_close(aligned(x), other(x), rtol=1e-4, atol=1e-4)


def test_standardisation_is_scale_invariant():
    model = mlp(0)
    rescaled = layers_of(model)
    first, second = list(rescaled)[:2]
    scale = torch.linspace(0.5, 4, 12)
    rescaled[first] = (rescaled[first][0] * scale[:, None], rescaled[first][1] * scale)
    rescaled[second] = (rescaled[second][0] / scale, rescaled[second][1])
    other = load_layers(model, rescaled)
    assert distances(standardize_hidden(model), standardize_hidden(other))["euclidean"] < 1e-5


def test_geodesic_stays_on_the_spheres_and_joins_the_endpoints():
    a, b = standardize_hidden(mlp(0)), standardize_hidden(mlp(1))
    for t in (0.0, 0.3, 1.0):
        point = geodesic_point(a, b, t)
        for sphere in spheres(point):
            torch.testing.assert_close(sphere.norm(dim=1), torch.ones(len(sphere)))
    for endpoint, t in ((a, 0.0), (b, 1.0)):
        for name in a:
            torch.testing.assert_close(geodesic_point(a, b, t)[name][0], endpoint[name][0], rtol=1e-4, atol=1e-5)
    # geodesic distance is additive along the geodesic
    half = geodesic_point(a, b, 0.5)
    total = distances(a, b)["geodesic"]
    assert distances(a, half)["geodesic"] == pytest.approx(total / 2, rel=1e-3)
    assert linear_point(a, b, 0.5)[list(a)[0]][0].norm(dim=1).max() <= 1 + 1e-6  # chords cut inside


def test_barrier_of_exact_cases():
    assert barrier([0.1, 0.1, 0.1]) == pytest.approx(0.0)
    assert barrier([0.0, 0.5, 0.2]) == pytest.approx(0.4)
    assert barrier([0.2, 0.1, 0.0]) == pytest.approx(0.0)


def test_a_trained_bend_lowers_the_loss_along_the_chain():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(128, 1, 4, 4, generator=generator)
    y = (x.flatten(1)[:, :8].sum(1) > x.flatten(1)[:, 8:].sum(1)).long() + (x[:, 0, 0, 0] > 0.5).long()
    template = mlp(0)
    a, b = standardize_hidden(mlp(0)), standardize_hidden(mlp(1))
    midpoint = linear_point(a, b, 0.5)
    metrics = loss_and_error("classification")
    ts = [0.25, 0.5, 0.75]
    before = curve(template, lambda t: bend_point(a, midpoint, b, t), ts, x, y, metrics)
    bend = train_bend(template, a, b, x, y, nn.functional.cross_entropy, steps=150, lr=0.05, batch_size=64, seed=0)
    after = curve(template, lambda t: bend_point(a, bend, b, t), ts, x, y, metrics)
    assert after[1]["loss"] < before[1]["loss"]
    assert np.mean([r["loss"] for r in after]) < np.mean([r["loss"] for r in before])


def test_networks_without_the_symmetry_are_refused():
    with pytest.raises(ValueError, match="BatchNorm"):
        layers_of(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="hidden layer"):
        layers_of(nn.Sequential(nn.Linear(3, 2)))
