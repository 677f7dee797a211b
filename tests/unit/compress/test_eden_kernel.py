"""The fused CPU kernel (eden_kernel.py) against the torch path: the same wire bytes, the same decoded floats."""

import pytest
import torch

from spotlab.tasks.compress import eden_kernel
from spotlab.tasks.compress.eden import EdenConfig

pytest.importorskip("numba", reason="the fused kernel needs numba; without it the torch path serves every call")

# conftest.py lowers eden_kernel.MIN_NUMEL to 0: the kernel handles every length here and in test_eden.py.


def both_paths(config: EdenConfig, x: torch.Tensor, seed: int, worker: int = 0):
    kernel, reference = config.build(worker), config.build(worker)
    reference.kernel = False
    return kernel, reference, kernel.compress(x, seed), reference.compress(x, seed)


def assert_same_payload(a, b):
    assert a.numel == b.numel and a.meta == b.meta and len(a.tensors) == len(b.tensors)
    for left, right in zip(a.tensors, b.tensors):
        assert left.dtype == right.dtype and torch.equal(left, right)


# Lengths: tiny (one padded chunk under 8·LANES), powers of two, and sums of chunks with a padded remainder; 2^21
# spans two packing pieces and two strip passes of the high levels.
@pytest.mark.parametrize("d", [1, 5, 40, 256, 300, 4096, 50_000, 2**18, 2**21])
@pytest.mark.parametrize("bits", [1, 2, 4])
def test_kernel_sends_and_decodes_exactly_what_the_torch_path_does(d, bits):
    x = torch.randn(d, generator=torch.Generator().manual_seed(d)) * 3 + 0.5
    kernel, reference, fast, slow = both_paths(EdenConfig(bits=bits), x, seed=d + bits, worker=1)
    assert_same_payload(fast, slow)
    decoded = reference.decompress(slow)
    assert torch.equal(kernel.decompress(fast), decoded)
    assert torch.equal(kernel.decompress(slow), decoded)


@pytest.mark.parametrize(("bits", "split"), [(3, "chunk"), (5, "pad"), (6, "chunk"), (0.5, "chunk"), (0.1, "pad")])
def test_other_bit_widths_split_modes_and_sub_sampling_are_exact_too(bits, split):
    x = torch.randn(70_000, generator=torch.Generator().manual_seed(7))
    kernel, reference, fast, slow = both_paths(EdenConfig(bits=bits, split=split), x, seed=3)
    assert_same_payload(fast, slow)
    assert torch.equal(kernel.decompress(fast), reference.decompress(slow))


@pytest.mark.parametrize("seed", [0, 1, 2**40 + 3])
def test_seeds_and_special_inputs(seed):
    inputs = [torch.zeros(1000), torch.ones(512), torch.full((777,), -2.0), torch.randn(3000).clamp(min=0)]
    for x in inputs:
        kernel, reference, fast, slow = both_paths(EdenConfig(bits=2), x, seed=seed)
        assert_same_payload(fast, slow)
        assert torch.equal(kernel.decompress(fast), reference.decompress(slow))


def test_the_kernel_is_the_default_on_cpu_and_fractional_bits_or_packet_loss_take_the_torch_path(monkeypatch):
    compressor = EdenConfig().build()
    assert eden_kernel.AVAILABLE and compressor.kernel
    calls = []
    rotate = eden_kernel.rotate
    monkeypatch.setattr(eden_kernel, "rotate", lambda *args: calls.append(args) or rotate(*args))
    compressor.compress(torch.randn(300), 0)
    assert calls  # the vNMSE and unbiasedness tests in test_eden.py run through the kernel
    x = torch.randn(5000, generator=torch.Generator().manual_seed(1))
    for config in (EdenConfig(bits=2.5), EdenConfig(bits=2, packet_loss=0.1)):
        kernel, reference, fast, slow = both_paths(config, x, seed=4)
        assert_same_payload(fast, slow)
        assert torch.equal(kernel.decompress(fast), reference.decompress(slow))


def test_compress_leaves_the_input_alone_and_reuses_its_scratch_across_sizes():
    compressor = EdenConfig(bits=4).build()
    big, small = torch.randn(2**16), torch.randn(3000)
    before = big.clone()
    first = compressor.decompress(compressor.compress(big, 0))
    compressor.compress(small, 0)  # a shorter call in between must not disturb a later long one
    assert torch.equal(big, before)
    assert torch.equal(compressor.decompress(compressor.compress(big, 0)), first)


def test_inputs_shorter_than_min_numel_take_the_torch_path(monkeypatch):
    monkeypatch.setattr(eden_kernel, "MIN_NUMEL", 2**15)
    calls = []
    rotate = eden_kernel.rotate
    monkeypatch.setattr(eden_kernel, "rotate", lambda *args: calls.append(args) or rotate(*args))
    compressor = EdenConfig(bits=1).build()
    compressor.compress(torch.randn(2**15 - 1), 0)
    assert not calls
    compressor.compress(torch.randn(2**15), 0)
    assert calls


def test_inputs_that_require_grad_are_read_without_their_graph():
    x = torch.randn(5000, requires_grad=True)
    kernel, reference, fast, slow = both_paths(EdenConfig(bits=2), x.detach(), seed=2)
    assert_same_payload(kernel.compress(x, 2), slow)
