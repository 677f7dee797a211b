import math

import pytest
import torch

from spotlab.tasks.compress.bitpack import pack, packed_bytes, unpack
from spotlab.tasks.compress.lloyd_max import distortion, lloyd_max, unbiased_vnmse


@pytest.mark.parametrize("bits", range(1, 9))
@pytest.mark.parametrize("n", [1, 7, 8, 13, 4096])
def test_pack_round_trip_and_size(bits, n):
    values = torch.randint(0, 2**bits, (n,), generator=torch.Generator().manual_seed(n * bits))
    packed = pack(values, bits)
    assert packed.dtype == torch.uint8 and packed.numel() == packed_bytes(n, bits) == math.ceil(n / 8) * bits
    assert torch.equal(unpack(packed, n, bits), values.int())


def test_pack_is_dense_for_multiples_of_eight():
    assert pack(torch.ones(1 << 16, dtype=torch.int32), 3).numel() == (1 << 16) * 3 // 8


def test_pack_rejects_bad_width():
    with pytest.raises(ValueError):
        pack(torch.zeros(8, dtype=torch.int32), 9)


def test_lloyd_max_matches_the_known_tables():
    levels1, boundaries1 = lloyd_max(1)
    assert levels1 == pytest.approx([-math.sqrt(2 / math.pi), math.sqrt(2 / math.pi)], abs=1e-9)
    assert boundaries1 == pytest.approx([0.0], abs=1e-12)
    assert lloyd_max(2)[0] == pytest.approx([-1.5104, -0.4528, 0.4528, 1.5104], abs=1e-4)
    assert [round(distortion(b), 4) for b in (1, 2, 3, 4)] == [0.3634, 0.1175, 0.0345, 0.0095]
    assert unbiased_vnmse(1) == pytest.approx(math.pi / 2 - 1, rel=1e-9)


@pytest.mark.parametrize("bits", [3, 5])
def test_lloyd_max_levels_are_centroids_of_their_cells(bits):
    levels, boundaries = lloyd_max(bits)
    z = torch.randn(2_000_000, generator=torch.Generator().manual_seed(bits), dtype=torch.float64)
    cells = torch.bucketize(z, torch.tensor(boundaries))
    means = torch.zeros(len(levels), dtype=torch.float64).index_add_(0, cells, z) / torch.bincount(cells)
    assert means.numpy() == pytest.approx(levels, abs=0.02)
