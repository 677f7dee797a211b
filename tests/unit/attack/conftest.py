"""Fixtures for the attack family: digits and a small MLP trained on them in about a second."""

from __future__ import annotations

import pytest
import torch

from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.data.datasets import prepare


@pytest.fixture(scope="session")
def digits():
    return prepare(DataConfig(), 0)


def train_mlp(splits, info, epochs: int = 15, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(MLPConfig(hidden=[64]), info.input_shape, info.num_outputs, info.mean, info.std)
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    x, y = torch.as_tensor(splits.x_train), torch.as_tensor(splits.y_train)
    for _ in range(epochs):
        for index in torch.randperm(len(x)).split(64):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[index]), y[index]).backward()
            optimizer.step()
    return model.eval()


@pytest.fixture(scope="session")
def mlp(digits):
    return train_mlp(*digits)


@pytest.fixture(scope="session")
def test_batch(digits):
    splits, _ = digits
    return torch.as_tensor(splits.x_test[:64]), torch.as_tensor(splits.y_test[:64])
