"""The Horovod backend: what the config lets through, its fused-gradient step and SAM-family steps (on a gloo group,
so they run without Horovod), and 2-worker train stages through horovodrun --gloo."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from pydantic import ValidationError
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from spotlab.tasks.compress.config import COMPRESSORS
from spotlab.tasks.distributed.collective import CompressedMean, step_seed
from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.distributed.horovod import average_before_step
from spotlab.tasks.distributed.spawn import run_workers
from spotlab.tasks.distributed.training import train_worker
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.loop import train_step
from spotlab.tasks.train.optimizers import OPTIMIZERS

needs_horovod = pytest.mark.skipif(
    importlib.util.find_spec("horovod") is None, reason="horovod not installed (make horovod)"
)
SHARPNESS_AWARE = sorted(set(OPTIMIZERS) - {"sgd", "adam"})


def _train_config(optimizer: dict, **distributed) -> TrainConfig:
    return TrainConfig.model_validate({"optimizer": optimizer, "distributed": {"workers": 2, **distributed}})


@pytest.mark.parametrize("optimizer", SHARPNESS_AWARE)
@pytest.mark.parametrize("backend", ["torch", "horovod"])
def test_sharpness_aware_optimizers_validate_on_both_backends(optimizer, backend):
    config = _train_config({"kind": optimizer}, backend=backend, compressor={"kind": "eden"})
    assert config.optimizer.kind == optimizer


def test_sharpness_aware_optimizers_with_error_feedback_are_rejected_with_the_reason():
    with pytest.raises(ValidationError, match="feedback.kind='def' wraps momentum SGD"):
        _train_config({"kind": "sam"}, backend="horovod", compressor={"kind": "random-block"}, feedback={"kind": "def"})


@pytest.mark.parametrize("compressor", sorted(COMPRESSORS))
@pytest.mark.parametrize("feedback", ["none", "ef", "def"])
def test_every_compressor_and_feedback_with_momentum_sgd_validates_on_horovod(compressor, feedback):
    """The fused-buffer exchange runs every compressor (allreduced or gathered) under every feedback."""
    config = _train_config({"kind": "sgd"}, backend="horovod", compressor={"kind": compressor},
                           feedback={"kind": feedback})
    assert config.distributed.compressor.kind == compressor


@needs_horovod
def test_horovod_two_worker_stage_writes_the_single_process_model(train_stage):
    one, one_model, _ = train_stage("one")
    two, two_model, _ = train_stage("two", workers=2, backend="horovod")
    for (name, a), b in zip(one_model.state_dict().items(), two_model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
    assert two.metrics["workers"] == 2 and two.metrics["compression_ratio"] == 1.0


@needs_horovod
@pytest.mark.parametrize("compressor, feedback", [("eden", "none"), ("eden", "def"), ("random-block", "def")])
def test_horovod_runs_compressors_with_and_without_feedback(train_stage, compressor, feedback):
    result, _, _ = train_stage(compressor + feedback, workers=2, backend="horovod", compressor={"kind": compressor},
                               feedback={"kind": feedback})
    assert result.metrics["compression_ratio"] > 1


@needs_horovod
def test_horovod_sam_training_matches_ddp(train_stage):
    """Both backends keep the ascent local (each worker perturbs with its own shard's gradient) and average only
    the final gradient, so 2 Horovod workers train the model 2 DDP workers do. (The other SAM-family optimizers
    take the same hook: test_sharpness_aware_step_exchanges_only_the_final_gradient.)"""
    optimizer = {"kind": "sam", "rho": 0.05, "base": {"kind": "sgd", "lr": 0.05}}
    _, ddp_model, _ = train_stage("ddp", optimizer, workers=2, backend="torch")
    result, horovod_model, _ = train_stage("horovod", optimizer, workers=2, backend="horovod")
    for (name, a), b in zip(ddp_model.state_dict().items(), horovod_model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
    assert result.metrics["compression_ratio"] == 1.0


@needs_horovod
def test_run_workers_on_horovod_trains_what_the_gloo_group_trains():
    """The DEF study's variants on either backend (run_workers): random-block + DEF on 2 Horovod workers ends at
    the model the torch backend's 2 workers reach (the same exchange, the same seeds)."""
    splits, info = prepare(DataConfig(), seed=0)
    config = {"model": {"kind": "mlp", "hidden": [16]}, "optimizer": {"kind": "sgd", "lr": 0.05}, "epochs": 1,
              "batch_size": 64}
    distributed = {"workers": 2, "compressor": {"kind": "random-block", "ratio": 8}, "feedback": {"kind": "def"}}
    results = {
        backend: run_workers(train_worker, 2, TrainConfig.model_validate(
            {**config, "distributed": {**distributed, "backend": backend}}), splits, info, 0, backend=backend)
        for backend in ("torch", "horovod")
    }
    for rank in range(2):
        for name, value in results["torch"][rank]["state_dict"].items():
            assert torch.allclose(results["horovod"][rank]["state_dict"][name], value, atol=1e-6), name
    assert results["horovod"][0]["bytes_per_step"] == results["torch"][0]["bytes_per_step"] > 0


def _sgd_objective(m, xs, ys):
    return nn.functional.cross_entropy(m(xs), ys)


def _small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3))


@pytest.mark.parametrize("kind", ["none", "random-block", "eden"])
def test_fused_step_applies_the_compressed_mean_of_the_whole_flat_gradient(solo, kind):
    """The horovod backend's step without Horovod (the same exchange over a one-worker gloo group): the optimizer
    steps on the decode of ONE payload of all parameters' gradients, split back into the parameters."""
    model = _small_model()
    before = parameters_to_vector(model.parameters()).detach().clone()
    codec = COMPRESSORS[kind]().build()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    hook = average_before_step(optimizer, CompressedMean(codec, solo, seed=7))
    x, y = torch.randn(20, 12), torch.randint(3, (20,))
    train_step(model, optimizer, _sgd_objective, x, y)

    reference = _small_model()
    vector_to_parameters(before, reference.parameters())
    _sgd_objective(reference, x, y).backward()
    gradient = parameters_to_vector([p.grad for p in reference.parameters()])
    decoded = codec.decompress(codec.compress(gradient, step_seed(7, 0, 0)))
    assert torch.allclose(parameters_to_vector(model.parameters()), before - 0.5 * decoded, atol=1e-6)
    assert hook.exchange.bytes_sent == solo.bytes_sent > 0 and hook.calls == 1


@pytest.mark.parametrize("kind", SHARPNESS_AWARE)
def test_sharpness_aware_step_exchanges_only_the_final_gradient(solo, kind):
    """With the lossless exchange on one worker, the horovod step of a SAM-family optimizer is that optimizer's own
    step, and it exchanges once per step: the ascent gradient never reaches the wire."""
    config = OPTIMIZERS[kind].model_validate({"kind": kind, "base": {"kind": "sgd", "lr": 0.1}})
    x, y = torch.randn(20, 12), torch.randint(3, (20,))
    plain, exchanged = _small_model(), _small_model()
    plain_optimizer = config.build(plain.named_parameters())
    exchanged_optimizer = config.build(exchanged.named_parameters())
    hook = average_before_step(exchanged_optimizer, CompressedMean(COMPRESSORS["none"]().build(), solo, seed=0))
    for _ in range(2):
        train_step(plain, plain_optimizer, _sgd_objective, x, y)
        train_step(exchanged, exchanged_optimizer, _sgd_objective, x, y)
    assert hook.calls == 2 and solo.bytes_sent == 2 * 4 * sum(p.numel() for p in plain.parameters())
    for a, b in zip(plain.parameters(), exchanged.parameters()):
        assert torch.equal(a, b)


def test_spotlab_validate_accepts_sam_on_horovod(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from spotlab.infra.cli import app

    monkeypatch.chdir(tmp_path)
    config = tmp_path / "sam-horovod.yaml"
    config.write_text("name: sam-horovod\ndata: {dataset: {kind: digits}}\n"
                      "train: {optimizer: {kind: sam}, distributed: {workers: 2, backend: horovod}}\n")
    result = CliRunner().invoke(app, ["validate", str(config)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
