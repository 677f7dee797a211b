"""The wild mixture: its OOD fraction, where its parts come from, the synthetic OOD sources, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from spotlab.tasks.data.config import DataConfig, DigitsConfig, SyntheticClassificationConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.ood.wild import (
    NoiseOODConfig,
    ShuffledPixelsOODConfig,
    WildDataConfig,
    build_wild,
    shuffle_pixels,
)


def rows(x) -> set[bytes]:
    return {np.asarray(r).tobytes() for r in x}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("pi", [0.05, 0.2])
def test_ood_fraction_within_binomial_bounds(id_digits, pi, seed):
    n = 3000
    wild = build_wild(WildDataConfig(pi=pi, size=n), *id_digits, seed=seed)
    low, high = binom.interval(0.999, n, pi)
    assert len(wild.x_wild) == n and low <= int(wild.wild_is_ood.sum()) <= high


def test_pi_zero_and_one_are_pure(id_digits):
    assert not build_wild(WildDataConfig(pi=0.0), *id_digits, seed=0).wild_is_ood.any()
    assert build_wild(WildDataConfig(pi=1.0), *id_digits, seed=0).wild_is_ood.all()


def test_wild_parts_come_from_id_train_and_the_ood_training_pool(id_digits, wild_digits):
    splits, _ = id_digits
    ood, _ = prepare(DataConfig(dataset=DigitsConfig(classes=[5, 6, 7, 8, 9]), val_fraction=0.0), 0)
    wild = wild_digits.x_wild.numpy()
    mask = wild_digits.wild_is_ood.numpy()
    assert rows(wild[~mask]) <= rows(splits.x_train)
    assert rows(wild[mask]) <= rows(ood.x_train)
    assert np.array_equal(wild_digits.x_ood_test.numpy(), ood.x_test)  # scored OOD never sits in the wild set


def test_same_seed_same_mixture(id_digits, wild_digits):
    again = build_wild(WildDataConfig(pi=0.2), *id_digits, seed=0)
    assert np.array_equal(again.x_wild, wild_digits.x_wild)
    assert np.array_equal(again.wild_is_ood, wild_digits.wild_is_ood)


def test_noise_sources_stay_in_the_input_box(id_digits):
    for distribution in ("uniform", "gaussian"):
        wild = build_wild(WildDataConfig(ood=NoiseOODConfig(distribution=distribution), pi=1.0), *id_digits, seed=0)
        assert wild.x_wild.shape[1:] == (1, 8, 8) and 0.0 <= wild.x_wild.min() and wild.x_wild.max() <= 1.0
        assert len(wild.x_ood_test) == len(id_digits[0].x_test)


def test_shuffled_pixels_permute_each_image_and_keep_its_values():
    x = np.random.default_rng(0).random((6, 3, 4, 4)).astype(np.float32)
    shuffled = shuffle_pixels(x, np.random.default_rng(1))
    assert not np.array_equal(shuffled, x)
    for original, moved in zip(x, shuffled):
        assert np.array_equal(np.sort(original.ravel()), np.sort(moved.ravel()))
        # one permutation of positions for all channels: channel 0 decides where channels 1 and 2 go
        order = [int(np.flatnonzero(original[0].ravel() == v)[0]) for v in moved[0].ravel()]
        assert np.array_equal(original[1].ravel()[order], moved[1].ravel())


def test_shuffled_pixels_source_uses_id_train_for_wild_and_id_test_for_scoring(id_digits):
    wild = build_wild(WildDataConfig(ood=ShuffledPixelsOODConfig(), pi=1.0), *id_digits, seed=0)
    assert len(wild.x_ood_test) == len(id_digits[0].x_test)
    assert np.array_equal(np.sort(wild.x_ood_test.numpy().reshape(len(wild.x_ood_test), -1), 1),
                          np.sort(id_digits[0].x_test.reshape(len(wild.x_ood_test), -1), 1))


def test_an_ood_source_of_another_shape_is_refused_by_name():
    vectors = prepare(DataConfig(dataset=SyntheticClassificationConfig(n_samples=200)), 0)
    with pytest.raises(ValueError, match=r"wild\.ood\.kind='digits'.*shape"):
        build_wild(WildDataConfig(), *vectors, seed=0)


def test_torchvision_sources_are_read_locally_never_downloaded(id_digits, tmp_path):
    with pytest.raises(FileNotFoundError, match="svhn"):
        build_wild(WildDataConfig(ood={"kind": "svhn", "root": str(tmp_path)}), *id_digits, seed=0)
    assert list(tmp_path.iterdir()) == []
