"""The Horovod backend: the compression adapter (pure), and a 2-worker train stage through horovodrun --gloo."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from spotlab.tasks.compress.basic import HalfPrecision
from spotlab.tasks.compress.sparse import RandomBlock, TopK
from spotlab.tasks.distributed.collective import CompressedMean
from spotlab.tasks.distributed.horovod import HorovodCompression

needs_horovod = pytest.mark.skipif(
    importlib.util.find_spec("horovod") is None, reason="horovod not installed (make horovod)"
)


@pytest.mark.parametrize("compressor", [RandomBlock(8), HalfPrecision()])
def test_adapter_decodes_horovods_average_to_the_mean_of_decoded_gradients(compressor):
    grads = [torch.randn(6, 50, generator=torch.Generator().manual_seed(k)) for k in range(3)]
    adapters = [HorovodCompression(CompressedMean(compressor, collective=None, seed=4)) for _ in grads]
    wires, contexts = zip(*(adapter.compress(g) for adapter, g in zip(adapters, grads)))
    average = torch.stack(wires).float().mean(0).to(wires[0].dtype)  # what Horovod's Average allreduce computes
    decoded = adapters[0].decompress(average, contexts[0])
    expected = torch.stack([a.decompress(w, c) for a, w, c in zip(adapters, wires, contexts)]).mean(0)
    assert decoded.shape == grads[0].shape
    assert torch.allclose(decoded, expected, atol=1e-3 if isinstance(compressor, HalfPrecision) else 1e-6)
    assert adapters[0].exchange.bytes_sent == sum(t.numel() * t.element_size() for t in wires[:1]) + 4 * len(
        contexts[0][1])


def test_adapter_refuses_gathered_compressors():
    with pytest.raises(ValueError, match="allreduce-compatible"):
        HorovodCompression(CompressedMean(TopK(8), collective=None, seed=0))


@needs_horovod
def test_horovod_two_worker_stage_writes_the_single_process_model(train_stage):
    one, one_model, _ = train_stage("one")
    two, two_model, _ = train_stage("two", workers=2, backend="horovod")
    for (name, a), b in zip(one_model.state_dict().items(), two_model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
    assert two.metrics["workers"] == 2 and two.metrics["compression_ratio"] == 1.0
