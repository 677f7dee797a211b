import pytest
import scipy.stats
import torch

from spotlab.tasks.compress.base import sum_payloads
from spotlab.tasks.compress.config import COMPRESSORS
from spotlab.tasks.compress.sparse import RandomBlock, RandomK, TopK


def test_random_block_same_seed_same_block_and_wraps_around():
    compressor = RandomBlock(ratio=4)
    x = torch.arange(10.0)
    a, b = compressor.compress(x, seed=7), compressor.compress(x * 2, seed=7)
    assert a.meta == b.meta and a.tensors[0].numel() == 2
    # Find a seed whose start forces a wrap: the block is the tail then the head of the tensor.
    wrapped = next(p for p in (compressor.compress(x, s) for s in range(100)) if p.meta["start"] == 9)
    assert wrapped.tensors[0].tolist() == [9.0, 0.0]
    assert compressor.decompress(wrapped).tolist() == [0.0] + [0.0] * 8 + [9.0]


def test_random_block_residual_plus_block_is_the_input_and_length_is_numel_over_ratio():
    compressor = RandomBlock(ratio=64)
    x = torch.randn(1000)
    payload = compressor.compress(x, seed=3)
    kept = compressor.decompress(payload)
    assert payload.tensors[0].numel() == 1000 // 64
    assert torch.count_nonzero(kept) == 1000 // 64
    assert torch.equal(kept + (x - kept), x) and torch.equal(kept[kept != 0], x[kept != 0])


def test_tiny_tensor_keeps_one_entry():
    assert RandomBlock(ratio=64).compress(torch.ones(3), seed=0).tensors[0].numel() == 1


@pytest.mark.parametrize("cls", [RandomBlock, RandomK])
def test_summed_payloads_decode_to_the_sum_of_decodes(cls):
    compressor = cls(ratio=8)
    xs = [torch.randn(256) for _ in range(3)]
    payloads = [compressor.compress(x, seed=11) for x in xs]
    total = compressor.decompress(sum_payloads(payloads))
    assert torch.allclose(total, sum(compressor.decompress(p) for p in payloads))


def test_sum_payloads_rejects_different_seeds():
    compressor = RandomBlock(ratio=8)
    x = torch.randn(256)
    payloads = [compressor.compress(x, seed=s) for s in range(20)]
    differing = [p for p in payloads if p.meta != payloads[0].meta][0]
    with pytest.raises(ValueError):
        sum_payloads([payloads[0], differing])


def test_top_k_keeps_exactly_the_largest_magnitudes():
    x = torch.tensor([0.1, -5.0, 0.3, 4.0, -0.2, 0.0, 2.0, -1.0])
    decoded = TopK(ratio=4).decompress(TopK(ratio=4).compress(x, seed=0))
    assert decoded.tolist() == [0.0, -5.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0]


def test_random_k_keeps_distinct_entries_unchanged():
    x = torch.randn(1000)
    decoded = RandomK(ratio=10).decompress(RandomK(ratio=10).compress(x, seed=5))
    nonzero = decoded != 0
    assert int(nonzero.sum()) == 100 and torch.equal(decoded[nonzero], x[nonzero])


@pytest.mark.parametrize("kind", ["none", "fp16"])
def test_dense_compressors_round_trip(kind):
    x = torch.randn(100)
    compressor = COMPRESSORS[kind]().build()
    payload = compressor.compress(x, seed=0)
    assert torch.allclose(compressor.decompress(payload), x, atol=1e-3)
    assert payload.wire_bytes() == 100 * (4 if kind == "none" else 2)


@pytest.mark.parametrize("numel, ratio, bins", [(20, 4.0, 20), (2**14, 64.0, 16)])
def test_random_k_draws_distinct_uniform_indices(numel, ratio, bins):
    """Over many seeds every index (or equal-width range of indices) is kept equally often: chi-square at 1e-3."""
    codec, draws = RandomK(ratio), 400
    counts = torch.zeros(bins)
    for seed in range(draws):
        indices = codec._indices(numel, seed, torch.device("cpu"))
        assert indices.numel() == numel // ratio and indices.unique().numel() == indices.numel()
        counts += torch.bincount(indices * bins // numel, minlength=bins)
    assert scipy.stats.chisquare(counts.numpy()).pvalue > 1e-3


def test_random_k_ranks_with_a_shared_seed_keep_the_same_indices():
    ranks = [RandomK(ratio=16) for _ in range(2)]
    data = [torch.randn(4096, generator=torch.Generator().manual_seed(r)) + 10 for r in range(2)]
    kept_by_rank = [c.decompress(c.compress(x, seed=9)) != 0 for c, x in zip(ranks, data)]
    assert torch.equal(kept_by_rank[0], kept_by_rank[1]) and int(kept_by_rank[0].sum()) == 256
