"""Why compressors act on flat buckets: EDEN is unbiased on a real model's whole flattened gradient, and biased on a
short tensor compressed on its own (a randomized Hadamard rotation of 16 coordinates is far from a uniform one)."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.utils import parameters_to_vector

from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.tasks.compress.config import COMPRESSORS
from spotlab.tasks.compress.eden import EdenConfig
from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.distributed.collective import CompressedMean

DRAWS = 500


def bias_statistic(x: torch.Tensor, draws: int = DRAWS) -> float:
    """N·‖mean of N decodes − x‖² / (vNMSE·‖x‖²), vNMSE measured on the same decodes. For an unbiased estimator its
    expectation is 1 (the mean's error is the per-decode error over N); a bias b adds N·‖b‖²/(vNMSE·‖x‖²)."""
    codec = EdenConfig(bits=1).build()
    decodes = torch.stack([codec.decompress(codec.compress(x, seed)) for seed in range(draws)]).double()
    x = x.double()
    vnmse = float((decodes - x).pow(2).sum(1).mean() / x.pow(2).sum())
    return draws * float((decodes.mean(0) - x).pow(2).sum()) / (vnmse * float(x.pow(2).sum()))


def _digits_gradient() -> list[torch.Tensor]:
    splits, info = prepare(DataConfig(), seed=0)
    torch.manual_seed(0)
    model = build_model(MLPConfig(hidden=[16]), info.input_shape, info.num_outputs, info.mean, info.std)
    x, y = torch.as_tensor(splits.x_train[:128]), torch.as_tensor(splits.y_train[:128])
    nn.functional.cross_entropy(model(x), y).backward()
    return [p.grad.reshape(-1) for p in model.parameters()]


def test_eden_on_the_flat_gradient_bucket_is_unbiased_and_on_a_ten_element_tensor_is_not():
    grads = _digits_gradient()
    bucket = parameters_to_vector(grads)  # what a DDP bucket / the fused Horovod buffer holds: 1210 coordinates
    output_bias = grads[-1]  # the 10-element bias of the output layer, as per-tensor compression would see it
    assert bucket.numel() > 1000 and output_bias.numel() == 10
    # The statistic is a sum over ~1000 coordinates of squared, roughly Gaussian mean errors: ±0.2 covers its spread
    # several times over; 3 is where a bias as large as a third of the noise of N decodes would show.
    assert 0.8 < bias_statistic(bucket) < 1.2
    assert bias_statistic(output_bias) > 3


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_bytes_sent_is_the_sum_of_the_tensors_handed_to_the_backend(solo, monkeypatch, kind):
    """Allreduced (none, fp16, random-block, random-k) and gathered (top-k, qsgd, eden, powersgd: sizes, header,
    padding) exchanges alike; the gathered frame must also carry each tensor's shape (powersgd sends matrices)."""
    handed: list[int] = []

    def spy(collective, position: int):
        """Count the tensor this worker hands to ``collective`` (all_gather's outputs are what it receives)."""
        def run(*args, **kwargs):
            handed.append(args[position].numel() * args[position].element_size())
            return collective(*args, **kwargs)
        return run

    monkeypatch.setattr(dist, "all_reduce", spy(dist.all_reduce, 0))
    monkeypatch.setattr(dist, "all_gather", spy(dist.all_gather, 1))
    codec = COMPRESSORS[kind]().build()
    exchange = CompressedMean(codec, solo, seed=0)
    for step in range(3):
        x = torch.randn(1210, generator=torch.Generator().manual_seed(step))
        own, mean = exchange([x], step)
        assert torch.allclose(mean[0], own[0])  # one worker: the mean is its own decode, whatever the path
    assert exchange.bytes_sent == sum(handed) > 0
