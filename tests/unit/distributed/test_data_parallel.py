"""Real multi-process (gloo) checks: 2 workers equal 1 on the same global batch; ranks agree on block indices;
the compressed mean and the kept errors account for every worker's update exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector

from spotlab.models.registry import build_model
from spotlab.tasks.compress.sparse import RandomBlock, TopK
from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.distributed.collective import CompressedMean
from spotlab.tasks.distributed.feedback import ErrorFeedback
from spotlab.tasks.distributed.spawn import run_workers
from spotlab.tasks.distributed.training import train_worker
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.loop import fit
from spotlab.tasks.train.schedules import build_scheduler


def _config(**distributed) -> TrainConfig:
    return TrainConfig.model_validate({
        "model": {"kind": "mlp", "hidden": [16]},
        "optimizer": {"kind": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
        "epochs": 2,
        "batch_size": 50,  # the training split is not a multiple of 50: the last batch splits unevenly
        "distributed": distributed,
    })


@pytest.fixture(scope="module")
def digits():
    return prepare(DataConfig(), seed=0)


def _single_process(cfg: TrainConfig, splits, info, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = build_model(cfg.model, info.input_shape, info.num_outputs, info.mean, info.std)
    optimizer = cfg.optimizer.build(model.parameters())
    fit(model, optimizer, build_scheduler(cfg.schedule, optimizer, cfg.epochs), cfg.objective.build(info.task, None),
        (torch.as_tensor(splits.x_train), torch.as_tensor(splits.y_train)),
        (torch.as_tensor(splits.x_val), torch.as_tensor(splits.y_val)),
        task=info.task, epochs=cfg.epochs, batch_size=cfg.batch_size, seed=seed)
    return model.state_dict()


def test_two_workers_without_compression_equal_one_worker(digits):
    splits, info = digits
    assert len(splits.x_train) % 50 % 2 == 1
    reference = _single_process(_config(), splits, info, seed=0)
    results = run_workers(train_worker, 2, _config(workers=2), splits, info, 0)
    for result in results:
        for name, value in reference.items():
            assert torch.allclose(result["state_dict"][name], value, atol=1e-5), name
    assert results[0]["bytes_per_step"] == results[0]["fp32_bytes_per_step"]
    assert results[0]["compression_ratio"] == 1.0


def _exchange_identities(collective) -> dict:
    """One EF step per compressor on a worker-specific gradient (lr 1, no momentum: the update δ_k is the gradient)."""
    out = {}
    for name, compressor in {"random-block": RandomBlock(8), "top-k": TopK(8)}.items():
        torch.manual_seed(collective.rank)
        model = nn.Linear(20, 7)
        nn.init.zeros_(model.weight), nn.init.zeros_(model.bias)
        optimizer = ErrorFeedback(model.parameters(), CompressedMean(compressor, collective, seed=11),
                                  lr=1.0, momentum=0.0, weight_decay=0.0)
        for p in model.parameters():
            p.grad = torch.randn_like(p)
        delta = parameters_to_vector([p.grad for p in model.parameters()])
        optimizer.step()
        state = optimizer.state["flat"]
        out[name] = {
            "delta": delta,
            "error": state["error"].clone(),
            "x": state["x"].clone(),
            "sent": (delta - state["error"]).nonzero().flatten(),
        }
    return out


def test_compressed_mean_accounts_for_every_update_and_ranks_share_blocks(monkeypatch):
    # The workers unpickle _exchange_identities by its module name (tests.unit.distributed....): give them the root.
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3]))
    workers = 3
    results = run_workers(_exchange_identities, workers)
    for name in ("random-block", "top-k"):
        per_rank = [r[name] for r in results]
        # x starts at 0, so −x is the compressed mean: K·mean + Σ_k e_k = Σ_k δ_k
        total = sum(r["delta"] for r in per_rank)
        accounted = -workers * per_rank[0]["x"] + sum(r["error"] for r in per_rank)
        assert torch.allclose(accounted, total, atol=1e-5)
        assert all(torch.equal(r["x"], per_rank[0]["x"]) for r in per_rank)  # one model everywhere
    blocks = [r["random-block"]["sent"] for r in results]
    assert all(torch.equal(b, blocks[0]) for b in blocks)  # the same block on every rank
    assert 0 < len(blocks[0]) < results[0]["random-block"]["delta"].numel()


@pytest.mark.parametrize("compressor", [{"kind": "random-block", "ratio": 8}, {"kind": "top-k", "ratio": 8}])
def test_compressed_gradients_keep_workers_in_step_and_meter_the_wire(digits, compressor):
    splits, info = digits
    cfg = _config(workers=2, compressor=compressor).model_copy(update={"epochs": 1})
    results = run_workers(train_worker, 2, cfg, splits, info, 0)
    for name, value in results[0]["state_dict"].items():
        assert torch.equal(results[1]["state_dict"][name], value), name  # DDP hook: one model on every worker
    numel = sum(p.numel() for p in build_model(cfg.model, info.input_shape, info.num_outputs).parameters())
    kept = numel // 8  # the model's parameters fit one DDP bucket: one payload per step
    sent = results[0]["bytes_per_step"]
    if compressor["kind"] == "random-block":
        assert sent == 4 * kept  # only the fp32 block is allreduced; its start comes from the shared seed
    else:  # gathered: the 8-byte size, then a frame of fp32 values + int32 indices behind a small pickled header
        assert 8 + 8 * kept < sent < 8 + 8 * kept + 512
    assert results[0]["compression_ratio"] == pytest.approx(4 * numel / sent)
