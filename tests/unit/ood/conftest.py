"""Digits 0–4 as ID, 5–9 as OOD, and a small MLP pre-trained on ID, shared by the OOD tests."""

from __future__ import annotations

import copy

import pytest

from spotlab.models.mlp import MLPConfig
from spotlab.tasks.data.config import DataConfig, DigitsConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.ood.wild import WildDataConfig, build_wild
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.recipes import train_model


@pytest.fixture(scope="session")
def id_digits():
    return prepare(DataConfig(dataset=DigitsConfig(classes=[0, 1, 2, 3, 4])), 0)


@pytest.fixture(scope="session")
def wild_digits(id_digits):
    return build_wild(WildDataConfig(pi=0.2), *id_digits, seed=0)


@pytest.fixture(scope="session")
def pretrained(id_digits):
    """A factory of fresh copies of one MLP trained for a few epochs on digits 0–4."""
    model = train_model(TrainConfig(model=MLPConfig(hidden=[32]), epochs=5), *id_digits, seed=0)
    return lambda: copy.deepcopy(model)
