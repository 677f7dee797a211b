"""Tiny prepared data and networks for the prune family's tests."""

from __future__ import annotations

import pytest
import torch

from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.tasks.data.config import DataConfig, SyntheticClassificationConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.prune.training import PruneData, RetrainConfig
from spotlab.tasks.train.optimizers import SGDConfig


@pytest.fixture(scope="module")
def data() -> PruneData:
    dataset = SyntheticClassificationConfig(n_samples=300, n_features=12, n_informative=6, n_classes=3)
    splits, info = prepare(DataConfig(dataset=dataset), seed=0)
    return PruneData(splits, info, noise_std=0.1)


@pytest.fixture
def make_model(data):
    def make(seed: int = 0, hidden=(32, 16)):
        torch.manual_seed(seed)
        info = data.info
        return build_model(MLPConfig(hidden=list(hidden)), info.input_shape, info.num_outputs, info.mean, info.std)

    return make


@pytest.fixture
def training() -> RetrainConfig:
    return RetrainConfig(optimizer=SGDConfig(lr=0.05), epochs=2, batch_size=32)
