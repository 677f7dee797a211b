import pytest
import torch
from pydantic import TypeAdapter, ValidationError

from spotlab.tasks.compress.config import COMPRESSORS, CompressorConfig
from spotlab.tasks.compress.powersgd import PowerSGD
from spotlab.tasks.compress.qsgd import QSGD


def test_qsgd_is_unbiased_and_private_per_worker():
    x = torch.randn(64, generator=torch.Generator().manual_seed(0))
    codec = QSGD(levels=3, worker=0)
    trials = 2000
    mean = sum(codec.decompress(codec.compress(x, s)) for s in range(trials)) / trials
    single = float((codec.decompress(codec.compress(x, 0)) - x).pow(2).sum())
    assert float((mean - x).pow(2).sum()) < 3 * single / trials + 1e-6
    assert not torch.equal(QSGD(3, 0).compress(x, 1).tensors[2], QSGD(3, 1).compress(x, 1).tensors[2])


def test_qsgd_levels_on_the_grid_are_exact_and_wire_is_packed():
    codec = QSGD(levels=5, worker=0)
    x = torch.tensor([3.0, -4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])  # ‖x‖ = 5: levels 3 and 4 of s = 5
    payload = codec.compress(x, 0)
    assert torch.equal(codec.decompress(payload), x)
    assert payload.wire_bytes() == 4 + 1 + 3  # norm, 8 sign bits, 8 three-bit levels


def test_powersgd_recovers_a_low_rank_matrix_exactly():
    u, v = torch.randn(30, 1, dtype=torch.float64), torch.randn(1, 30, dtype=torch.float64)
    flat = (u @ v).reshape(-1).float()
    codec = PowerSGD(rank=2)
    payload = codec.compress(flat, seed=3)
    assert torch.allclose(codec.decompress(payload), flat, atol=1e-4)
    assert payload.wire_bytes() == 4 * (30 * 2 + 30 * 2)


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_every_compressor_decodes_to_the_input_shape_and_reports_its_bytes(kind):
    codec = COMPRESSORS[kind]().build(worker=1)
    x = torch.randn(1000)
    payload = codec.compress(x, seed=9)
    assert codec.decompress(payload).shape == (1000,)
    assert payload.wire_bytes() == sum(t.numel() * t.element_size() for t in payload.tensors) + 4 * len(payload.meta)


def test_unknown_kind_names_the_choices():
    with pytest.raises(ValidationError, match="eden"):
        TypeAdapter(CompressorConfig).validate_python({"kind": "topk"})
    assert TypeAdapter(CompressorConfig).validate_python({"kind": "eden", "bits": 2}).bits == 2
