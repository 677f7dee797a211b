"""Tiny prepared data and networks for the federated family's tests."""

from __future__ import annotations

import pytest
import torch

from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.tasks.data.config import DataConfig, SyntheticClassificationConfig
from spotlab.tasks.data.datasets import prepare


@pytest.fixture(scope="module")
def data():
    dataset = SyntheticClassificationConfig(n_samples=240, n_features=6, n_informative=4, n_classes=3)
    return prepare(DataConfig(dataset=dataset, val_fraction=0.0), seed=0)


@pytest.fixture
def make_model(data):
    def make(seed: int = 0, hidden=(8,)):
        torch.manual_seed(seed)
        _, info = data
        return build_model(MLPConfig(hidden=list(hidden)), info.input_shape, info.num_outputs, info.mean, info.std)

    return make
