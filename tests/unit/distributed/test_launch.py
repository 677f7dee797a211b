"""The train stage through the local launcher (torchrun + the worker entry point): 2 workers without compression
write the same model as the single-process stage, plus the communication metrics."""

from __future__ import annotations

import io

import pytest
import torch

from infra.runs import Run
from infra.stages import execute_stage
from infra.storage import LocalStore
from models.registry import model_from_bytes
from tasks.data import stage as prep_stage
from tasks.data.config import DataConfig
from tasks.distributed.stage import local_launch_command, worker_command
from tasks.train import stage as train_stage
from tasks.train.config import TrainConfig


def _train(tmp_path, name: str, **distributed):
    store = LocalStore(tmp_path / name)
    run = Run.create(store, name, {}, "test")
    prep = execute_stage(run, "prep", DataConfig(), 0, {}, prep_stage.run)
    inputs = {"splits": prep.artifacts["splits.npz"], "info": prep.artifacts["info.json"]}
    config = TrainConfig.model_validate({
        "model": {"kind": "mlp", "hidden": [16]},
        "optimizer": {"kind": "sgd", "lr": 0.05},
        "epochs": 2, "batch_size": 50, "checkpoint_every": 1, "device": "cpu",
        "distributed": distributed,
    })
    result = execute_stage(run, "train", config, 0, inputs, train_stage.run)
    model = model_from_bytes(run.read(result.artifacts["model.pt"]))
    return result, model, run


def test_two_worker_stage_writes_the_single_process_model(tmp_path):
    one, one_model, _ = _train(tmp_path, "one")
    two, two_model, run = _train(tmp_path, "two", workers=2)
    assert set(one.artifacts) | {"launch.json"} == set(two.artifacts)
    for (name, a), b in zip(one_model.state_dict().items(), two_model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
    assert two.metrics["workers"] == 2
    assert two.metrics["compression_ratio"] == 1.0
    assert two.metrics["bytes_per_step"] == two.metrics["fp32_bytes_per_step"] > 0
    checkpoint = torch.load(io.BytesIO(run.read(two.artifacts["checkpoints/epoch-0002.pt"])), weights_only=False)
    assert len(checkpoint["optimizer"]) == 2  # every worker's optimizer state


def test_launch_commands():
    args = worker_command("s3://bucket/prefix", "http://minio:9000", "runs/r/train/launch.json")
    assert args[-2:] == ["--endpoint-url", "http://minio:9000"]
    torchrun = local_launch_command("torch", 4, args)
    assert torchrun[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "4"]
    assert torchrun[6:] == args
