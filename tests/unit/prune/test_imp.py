"""IMP with rewinding, its random baseline and Ramanujan-IMP on a tiny network."""

from __future__ import annotations

import pytest
import torch

from spotlab.tasks.prune.levels import run_levels
from spotlab.tasks.prune.masks import current_masks
from spotlab.tasks.prune.pruners import IMPConfig, RamanujanIMPConfig
from spotlab.tasks.prune.spectra import ramanujan_gap
from spotlab.tasks.prune.training import PruneData


class RecordingData(PruneData):
    """Records the masked weights each training run starts from."""

    def train(self, model, training, seed, penalty=None, on_epoch_end=None):
        self.starts.append({n: model.get_submodule(n).weight.detach().clone() for n in current_masks(model)})
        return super().train(model, training, seed, penalty, on_epoch_end)


def recording(data):
    recorder = RecordingData(data.splits, data.info, data.noise_std)
    object.__setattr__(recorder, "starts", [])
    return recorder


def test_level_sparsities_follow_one_minus_keep_to_the_level(data, make_model, training):
    results, _ = run_levels(IMPConfig(levels=4, fraction=0.2, training=training), make_model(), data, seed=0)
    assert [r.level for r in results] == [0, 1, 2, 3, 4]
    for r in results:
        assert r.sparsity == pytest.approx(1 - 0.8**r.level, abs=2e-3)
    for previous, current in zip(results, results[1:]):  # pruned weights never come back
        assert all(torch.all(previous.masks[n] | ~current.masks[n]) for n in current.masks)
    assert "net.5" not in results[-1].masks  # the output layer is excluded by default


def test_rewinding_to_zero_restores_the_initial_values_of_surviving_weights(data, make_model, training):
    model = make_model()
    init = {n: model.get_submodule(n).weight.detach().clone() for n in ("net.1", "net.3")}
    recorder = recording(data)
    results, _ = run_levels(IMPConfig(levels=2, training=training), model, recorder, seed=0)
    for level, start in enumerate(recorder.starts):
        masks = results[level].masks
        for name, weight in start.items():
            assert torch.equal(weight, init[name] * masks[name])


def test_rewinding_to_a_later_epoch_restores_that_epoch_and_is_validated(data, make_model, training):
    recorder = recording(data)
    run_levels(IMPConfig(levels=2, rewind_epoch=1, training=training), make_model(), recorder, seed=0)
    level1, level2 = recorder.starts[1], recorder.starts[2]
    for name in level1:  # both levels rewind to the same epoch-1 values (up to their masks)
        both = (level1[name] != 0) & (level2[name] != 0)
        assert torch.equal(level1[name][both], level2[name][both])
        assert not torch.equal(level1[name], recorder.starts[0][name] * (level1[name] != 0))
    with pytest.raises(ValueError, match="rewind_epoch"):
        IMPConfig(rewind_epoch=5, training=training)


def test_random_baseline_prunes_different_weights_at_the_same_rate(data, make_model, training):
    imp, _ = run_levels(IMPConfig(levels=1, training=training), make_model(), data, seed=0)
    rnd, _ = run_levels(IMPConfig(levels=1, scores="random", training=training), make_model(), data, seed=0)
    assert imp[1].sparsity == rnd[1].sparsity
    assert not torch.equal(imp[1].masks["net.1"], rnd[1].masks["net.1"])


def test_ramanujan_imp_only_adopts_masks_that_keep_the_property(data, make_model, training):
    config = RamanujanIMPConfig(levels=6, fraction=0.4, training=training)
    results, pruned = run_levels(config, make_model(hidden=(48, 24)), data, seed=0)
    frozen = 0
    for previous, current in zip(results, results[1:]):
        for name, mask in current.masks.items():
            if torch.equal(mask, previous.masks[name]):
                frozen += 1
            else:
                assert ramanujan_gap(mask.numpy()) >= 0
    assert frozen > 0  # the rule did stop pruning some layer at some level
    plain = IMPConfig(levels=6, fraction=0.4, training=training)
    assert results[-1].sparsity < run_levels(plain, make_model(hidden=(48, 24)), data, seed=0)[0][-1].sparsity
    assert current_masks(pruned) == {}  # the returned network is plain, masks baked in
