"""A one-process gloo group (the distributed optimizers in-process; multi-process tests spawn their own), and the
train stage on digits in a fresh local store."""

from __future__ import annotations

import pytest
import torch.distributed as dist

from spotlab.infra.runs import Run
from spotlab.infra.stages import execute_stage
from spotlab.infra.storage import LocalStore
from spotlab.models.registry import model_from_bytes
from spotlab.tasks.data import stage as prep_stage
from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.distributed.collective import TorchCollective
from spotlab.tasks.train import stage as train_stage_module
from spotlab.tasks.train.config import TrainConfig


@pytest.fixture
def solo(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/rendezvous", rank=0, world_size=1)
    yield TorchCollective()
    dist.destroy_process_group()


@pytest.fixture
def train_stage(tmp_path):
    """``train_stage(name, optimizer=None, **distributed) -> (stage result, trained model, run)``: prep + train in a
    new run (SGD at lr 0.05 unless ``optimizer`` is given)."""

    def run_train(name: str, optimizer: dict | None = None, **distributed):
        store = LocalStore(tmp_path / name)
        run = Run.create(store, name, {}, "test")
        prep = execute_stage(run, "prep", DataConfig(), 0, {}, prep_stage.run)
        inputs = {"splits": prep.artifacts["splits.npz"], "info": prep.artifacts["info.json"]}
        config = TrainConfig.model_validate({
            "model": {"kind": "mlp", "hidden": [16]},
            "optimizer": optimizer or {"kind": "sgd", "lr": 0.05},
            "epochs": 2, "batch_size": 50, "checkpoint_every": 1, "device": "cpu",
            "distributed": distributed,
        })
        result = execute_stage(run, "train", config, 0, inputs, train_stage_module.run)
        return result, model_from_bytes(run.read(result.artifacts["model.pt"])), run

    return run_train
