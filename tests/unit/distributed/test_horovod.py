"""The Horovod backend: what the config lets through, its fused-gradient step (on a gloo group, so it runs without
Horovod), and 2-worker train stages through horovodrun --gloo."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from pydantic import ValidationError
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from spotlab.tasks.compress.config import COMPRESSORS
from spotlab.tasks.distributed.collective import CompressedMean, step_seed
from spotlab.tasks.distributed.horovod import FusedGradientMean
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.optimizers import OPTIMIZERS

needs_horovod = pytest.mark.skipif(
    importlib.util.find_spec("horovod") is None, reason="horovod not installed (make horovod)"
)
SHARPNESS_AWARE = sorted(set(OPTIMIZERS) - {"sgd", "adam"})


def _train_config(optimizer: dict, **distributed) -> TrainConfig:
    return TrainConfig.model_validate({"optimizer": optimizer, "distributed": {"workers": 2, **distributed}})


@pytest.mark.parametrize("optimizer", SHARPNESS_AWARE)
@pytest.mark.parametrize("compressor", ["none", "eden"])
def test_sharpness_aware_optimizers_on_horovod_are_rejected_by_validation(optimizer, compressor):
    with pytest.raises(ValidationError, match=f"optimizer.kind='{optimizer}' is not supported with .*horovod"):
        _train_config({"kind": optimizer}, backend="horovod", compressor={"kind": compressor})
    _train_config({"kind": optimizer}, backend="torch", compressor={"kind": compressor})  # DDP keeps the ascent local
    _train_config({"kind": optimizer}, workers=1, backend="horovod")  # one process: no horovod at all


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


@pytest.mark.parametrize("kind", ["none", "random-block", "eden"])
def test_fused_step_applies_the_compressed_mean_of_the_whole_flat_gradient(solo, kind):
    """The horovod backend's step without Horovod (the same exchange over a one-worker gloo group): the optimizer
    steps on the decode of ONE payload of all parameters' gradients, split back into the parameters."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3))
    before = parameters_to_vector(model.parameters()).detach().clone()
    codec = COMPRESSORS[kind]().build()
    step = FusedGradientMean(CompressedMean(codec, solo, seed=7))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = torch.randn(20, 12), torch.randint(3, (20,))
    objective = lambda m, xs, ys: nn.functional.cross_entropy(m(xs), ys)  # noqa: E731
    step(model, optimizer, objective, x, y)

    reference = nn.Sequential(nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3))
    vector_to_parameters(before, reference.parameters())
    objective(reference, x, y).backward()
    gradient = parameters_to_vector([p.grad for p in reference.parameters()])
    decoded = codec.decompress(codec.compress(gradient, step_seed(7, 0, 0)))
    assert torch.allclose(parameters_to_vector(model.parameters()), before - 0.5 * decoded, atol=1e-6)
    assert step.exchange.bytes_sent == solo.bytes_sent > 0


def test_spotlab_validate_rejects_sam_on_horovod_with_the_reason(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from spotlab.infra.cli import app

    monkeypatch.chdir(tmp_path)
    config = tmp_path / "sam-horovod.yaml"
    config.write_text("name: sam-horovod\ndata: {dataset: {kind: digits}}\n"
                      "train: {optimizer: {kind: sam}, distributed: {workers: 2, backend: horovod}}\n")
    result = CliRunner().invoke(app, ["validate", str(config)], catch_exceptions=False)
    assert result.exit_code == 2
    assert "train.optimizer.kind='sam' is not supported with train.distributed.backend='horovod'" in result.stderr
    assert "ascent gradient kept local" in result.stderr
