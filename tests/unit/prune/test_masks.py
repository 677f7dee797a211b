"""Masks as weight parametrizations: exact zeros through training, state_dict round-trips, selection rules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spotlab.tasks.prune.masks import apply_masks, bake, current_masks, dense_masks, prunable_layers, sparsity_report
from spotlab.tasks.prune.selection import magnitude_scores, prune_lowest, random_scores


def tiny_mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 3))


def half_masks(model):
    masks = dense_masks(model)
    return {name: torch.rand(mask.shape, generator=torch.Generator().manual_seed(1)) < 0.5 for name, mask in masks.items()}


def test_output_layer_is_excluded_on_request():
    model = tiny_mlp()
    assert list(prunable_layers(model)) == ["0", "2"]
    assert list(prunable_layers(model, exclude_output=False)) == ["0", "2", "4"]


def test_masked_weights_stay_exactly_zero_through_training_with_momentum_and_weight_decay():
    model = tiny_mlp()
    masks = half_masks(model)
    apply_masks(model, masks)
    before = {name: model.get_submodule(name).weight.detach().clone() for name in masks}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    for _ in range(20):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    for name, mask in masks.items():
        weight = model.get_submodule(name).weight.detach()
        assert torch.all(weight[~mask] == 0)
        assert not torch.equal(weight[mask], before[name][mask])  # the survivors did train


def test_masks_survive_a_state_dict_round_trip_and_bake_to_plain_zeros():
    model = apply_masks(tiny_mlp(), half_masks(tiny_mlp()))
    restored = apply_masks(tiny_mlp(seed=5), dense_masks(tiny_mlp()))
    restored.load_state_dict(model.state_dict())
    for name, mask in current_masks(model).items():
        assert torch.equal(current_masks(restored)[name], mask)
    x = torch.randn(4, 6)
    plain = bake(restored)
    assert current_masks(plain) == {} and torch.equal(plain(x), model(x))
    assert set(plain.state_dict()) == set(tiny_mlp().state_dict())  # loadable into the unmasked architecture
    assert all(torch.all(plain.get_submodule(n).weight[~m] == 0) for n, m in current_masks(model).items())


def test_masks_are_validated():
    model = tiny_mlp()
    with pytest.raises(ValueError, match="shape"):
        apply_masks(model, {"0": torch.ones(3, 3, dtype=torch.bool)})
    with pytest.raises(ValueError, match="does not have"):
        apply_masks(model, {"9": torch.ones(3, 3, dtype=torch.bool)})
    with pytest.raises(ValueError, match="other than 0 and 1"):
        apply_masks(model, {"0": torch.full((8, 6), 0.5)})


def test_sparsity_report_counts_exactly():
    masks = {"a": torch.tensor([[True, False], [False, False]]), "b": torch.ones(2, 3, dtype=torch.bool)}
    report = sparsity_report(masks)
    assert (report["weights"], report["kept"]) == (10, 7) and report["sparsity"] == pytest.approx(0.3)
    assert report["layers"]["a"] == {"weights": 4, "kept": 1, "sparsity": 0.75}


def test_prune_lowest_global_and_layer_scopes_on_an_exact_case():
    scores = {"a": torch.tensor([1.0, 2.0, 3.0, 4.0]), "b": torch.tensor([10.0, 20.0, 30.0, 40.0])}
    masks = {"a": torch.ones(4, dtype=torch.bool), "b": torch.tensor([True, True, True, False])}
    glob = prune_lowest(scores, masks, 0.5, "global")  # 7 survivors → prune 4: all of a's
    assert glob["a"].tolist() == [False] * 4 and glob["b"].tolist() == [True, True, True, False]
    layer = prune_lowest(scores, masks, 0.5, "layer")  # a: 2 of 4, b: round(1.5) = 2 of 3
    assert layer["a"].tolist() == [False, False, True, True] and layer["b"].tolist() == [False, False, True, False]


def test_magnitude_and_random_scores_cover_the_masked_layers():
    model = apply_masks(tiny_mlp(), half_masks(tiny_mlp()))
    masks = current_masks(model)
    scores = magnitude_scores(model, masks)
    assert all(torch.all(scores[n][~m] == 0) for n, m in masks.items())
    noise = random_scores(masks, torch.Generator().manual_seed(0))
    assert {n: s.shape for n, s in noise.items()} == {n: m.shape for n, m in masks.items()}
