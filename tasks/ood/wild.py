"""Wild data (Katz-Samuels et al., ICML 2022): an in-distribution (ID) set, an OOD set and an unlabeled "wild"
mixture in which each example is OOD with probability π.

ID data is the pipeline's prepared classification data (e.g. digits 0–4). OOD sources are chosen by ``kind``:
any dataset kind of the data family that yields the same input shape (digits 5–9; SVHN, CIFAR-10 or MNIST read
from a local root), uniform or Gaussian noise, or ID images with their pixels shuffled. The wild mixture draws its
OOD part from one part of the source and the OOD test set from a disjoint part, so detection is never scored on
examples the detector saw in the wild. Plain numpy; seeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, Union

import numpy as np
import torch
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.data.config import DataConfig, DigitsConfig, TorchvisionConfig
from spotlab.tasks.data.datasets import DatasetInfo, Splits, prepare


class NoiseOODConfig(ConfigModel):
    """Synthetic OOD images: uniform noise over the input box, or Gaussian noise with the ID training statistics."""

    kind: Literal["noise"] = "noise"
    distribution: Literal["uniform", "gaussian"] = Field("uniform", description="Noise law of every pixel.")

    def pools(self, splits: Splits, info: DatasetInfo, rng: np.random.Generator, n_wild: int):
        low, high = info.bounds or (0.0, 1.0)
        shape = info.input_shape

        def draw(n: int) -> np.ndarray:
            if self.distribution == "uniform":
                return rng.uniform(low, high, size=(n, *shape)).astype(np.float32)
            stat = (-1,) + (1,) * (len(shape) - 1) if len(shape) == 3 else (-1,)
            mean, std = np.reshape(info.mean, stat), np.reshape(info.std, stat)
            return np.clip(mean + std * rng.standard_normal((n, *shape)), low, high).astype(np.float32)

        return draw(n_wild), draw(len(splits.x_test))


class ShuffledPixelsOODConfig(ConfigModel):
    """ID images whose pixel positions are permuted (independently per image, jointly across channels): the
    intensity histogram of ID data without its spatial structure."""

    kind: Literal["shuffled-pixels"] = "shuffled-pixels"

    def pools(self, splits: Splits, info: DatasetInfo, rng: np.random.Generator, n_wild: int):
        return shuffle_pixels(splits.x_train, rng), shuffle_pixels(splits.x_test, rng)


def shuffle_pixels(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image of ``x`` (N, C, H, W) or vector (N, D) with its positions permuted by its own permutation."""
    flat = x.reshape(len(x), x.shape[1], -1) if x.ndim == 4 else x[:, None, :]
    order = np.argsort(rng.random((len(x), flat.shape[-1])), axis=1)
    shuffled = np.take_along_axis(flat, order[:, None, :], axis=2)
    return shuffled.reshape(x.shape)


def _dataset_pools(source, seed: int, info: DatasetInfo):
    """OOD pools from a dataset kind: its training split feeds the wild mixture, its test split the OOD test set."""
    ood, _ = prepare(DataConfig(dataset=source, val_fraction=0.0), seed)
    if tuple(ood.x_train.shape[1:]) != tuple(info.input_shape):
        raise ValueError(
            f"wild.ood.kind={source.kind!r} gives inputs of shape {tuple(ood.x_train.shape[1:])}, but the ID data "
            f"has shape {tuple(info.input_shape)}; choose an OOD source of the same shape"
        )
    return ood.x_train, ood.x_test


OOD_SOURCES = {
    "digits": DigitsConfig,
    "mnist": TorchvisionConfig,
    "cifar10": TorchvisionConfig,
    "svhn": TorchvisionConfig,
    "noise": NoiseOODConfig,
    "shuffled-pixels": ShuffledPixelsOODConfig,
}

OODSourceConfig = Annotated[Union[tuple(dict.fromkeys(OOD_SOURCES.values()))], Field(discriminator="kind")]


class WildDataConfig(ConfigModel):
    ood: OODSourceConfig = Field(
        default_factory=lambda: DigitsConfig(classes=[5, 6, 7, 8, 9]),
        description="Where OOD examples come from (by kind): a dataset kind of the same input shape as the ID "
        "data, 'noise' or 'shuffled-pixels'.",
    )
    pi: float = Field(0.1, ge=0, le=1, description="Probability that a wild example is OOD (paper: 0.05–1).")
    size: int | None = Field(
        None, ge=1, description="Number of wild examples; null uses as many as the ID training split."
    )


@dataclass(frozen=True)
class WildData:
    """Tensors for fine-tuning (ID training set + wild mixture) and for evaluation (ID test + OOD test)."""

    x_in: torch.Tensor
    y_in: torch.Tensor
    x_wild: torch.Tensor
    wild_is_ood: torch.Tensor  # bool; never shown to the learner, kept to report the mixture
    x_id_test: torch.Tensor
    y_id_test: torch.Tensor
    x_ood_test: torch.Tensor


def build_wild(cfg: WildDataConfig, splits: Splits, info: DatasetInfo, seed: int) -> WildData:
    """The wild mixture: each of ``size`` slots is OOD with probability π (Bernoulli), filled from the OOD pool,
    else from the ID training split; draws are without replacement while the pool lasts."""
    if info.task != "classification":
        raise ValueError(f"wild data needs a classification ID dataset, got a {info.task} one")
    rng = np.random.default_rng([seed, 16])
    n_wild = cfg.size or len(splits.x_train)
    if isinstance(cfg.ood, (DigitsConfig, TorchvisionConfig)):
        ood_pool, ood_test = _dataset_pools(cfg.ood, seed, info)
    else:
        ood_pool, ood_test = cfg.ood.pools(splits, info, rng, n_wild)
    is_ood = rng.random(n_wild) < cfg.pi

    def pick(pool: np.ndarray, n: int) -> np.ndarray:
        return pool[rng.choice(len(pool), n, replace=n > len(pool))]

    x_wild = np.empty((n_wild, *splits.x_train.shape[1:]), dtype=np.float32)
    x_wild[is_ood] = pick(ood_pool, int(is_ood.sum()))
    x_wild[~is_ood] = pick(splits.x_train, int((~is_ood).sum()))
    t = torch.as_tensor
    return WildData(
        x_in=t(splits.x_train), y_in=t(splits.y_train), x_wild=t(x_wild), wild_is_ood=t(is_ood),
        x_id_test=t(splits.x_test), y_id_test=t(splits.y_test), x_ood_test=t(np.asarray(ood_test, np.float32)),
    )
