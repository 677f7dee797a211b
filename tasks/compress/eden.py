"""EDEN (Vargaftik et al., ICML 2022): randomized Hadamard rotation + Lloyd–Max quantisation with an unbiased scale.

Sender, for a flat x of length n:
1. b < 1: keep each coordinate with probability b (seeded mask), scale the kept ones by 1/b, continue with b = 1.
2. Split the length into power-of-two chunks (its binary digits ≥ 256, the remainder padded; ``split="chunk"``) or
   zero-pad to the next power of two (``split="pad"``). Each chunk is rotated on its own: h = H·diag(s)·x_c, s Rademacher from the seed
   (unnormalised H, so ‖h‖² = D‖x_c‖² and z = h/‖x_c‖ is ≈ N(0, 1) per coordinate).
3. Quantise z with the Lloyd–Max table of N(0, 1); the chunk's scale σ = ‖x_c‖² / ⟨c[idx], h⟩ makes the estimate
   x̂_c = σ · diag(s)·H·c[idx] unbiased (σ is EDEN's S = ‖x‖²/⟨R(x), Q(R(x))⟩ with the 1/D of H·H folded in).
4. On the wire: bit-packed indices (⌈n·b/8⌉ bytes), one float per chunk, the seed and b.
Fractional b mixes the ⌊b⌋- and ⌈b⌉-bit tables by a seeded Bernoulli(frac b) mask over the rotated coordinates (two
packed streams, one scale per chunk over both). The receiver regenerates signs and masks from the seed; simulated
packet loss drops a seeded fraction p of the rotated coordinates and rescales the rest by 1/(1 − p).

Two implementations, the same bytes and floats: the torch path below (any device, every option; the reference) and
the fused CPU kernel of ``eden_kernel.py`` (long CPU inputs with whole bits), which ``Eden`` picks when numba is
installed. Their agreement rests on fixed orders: the radix-2 Hadamard of ``hadamard.py`` and the float64 sums of
``summation.py``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.compress import eden_kernel
from spotlab.tasks.compress.base import Compressor, Payload, derive_seed, generator
from spotlab.tasks.compress.bitpack import pack, packed_bytes, unpack
from spotlab.tasks.compress.hadamard import fwht
from spotlab.tasks.compress.lloyd_max import lloyd_max
from spotlab.tasks.compress.summation import row_tree, total

# Independent random streams derived from one payload seed.
ROTATION, SUBSAMPLE, MIX, LOSS = 1, 2, 3, 4
MIN_CHUNK = 256  # shortest chunk of split="chunk"; padding the remainder costs under MIN_CHUNK·b bits
# Elementwise stages (sign flips, quantisation, packing) run on pieces of at most SLICE coordinates: their
# temporaries stay cache-sized and are reused by the allocator instead of page-faulting in fresh (on this VM, costly).
SLICE = 2**20


@dataclass(frozen=True)
class Table:
    """One Lloyd–Max quantiser on a device, with a lookup grid that bucketises in O(1) per coordinate.

    The grid splits [−T, T] into cells narrower than the closest two boundaries, so a cell holds at most one
    boundary: the cell's left-edge bucket plus one comparison with the next boundary up is the exact bucket.
    """

    bits: int
    levels: torch.Tensor  # (2^b,) centroids of N(0, 1)
    upper: torch.Tensor  # (2^b,) the boundary above each bucket (+inf for the last)
    lut: torch.Tensor  # (cells,) int32 bucket of each cell's left edge
    half_width: float  # T
    cell: float  # cell width

    def quantize(self, h: torch.Tensor, norm: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Bucket of each z = h / norm, and the lanes of ⟨levels[bucket], h⟩ (the unbiased scale's denominator) as
        ``summation.row_tree`` of the exact float64 products: a float32 sum over millions of coordinates is off by
        ~1e-4 relative, which biases the scale by as much, and a fixed order keeps the kernel's bytes identical."""
        if norm == 0:
            return torch.zeros(h.numel(), dtype=torch.int32, device=h.device), row_tree(h.new_zeros(0, dtype=torch.float64))
        if self.bits == 1:  # the bucket is the sign
            idx = torch.gt(h, 0).to(torch.int32)
        else:
            cells = self.lut.numel()
            position = h.mul(1.0 / (self.cell * norm)).add_(self.half_width / self.cell).clamp_(0, cells - 1)
            idx = self.lut.index_select(0, position.to(torch.int32))
            idx.add_(torch.gt(h, self.thresholds(norm).index_select(0, idx)))
        return idx, row_tree(self.levels.double().index_select(0, idx) * h.double())

    def thresholds(self, norm: float) -> torch.Tensor:
        """Bucket boundaries on the scale of h (float32, the kernel compares with the same numbers)."""
        return self.upper * norm


@functools.lru_cache(maxsize=None)
def table(bits: int, device: torch.device) -> Table:
    levels, boundaries = lloyd_max(bits)
    gap = np.min(np.diff(boundaries)) if bits > 1 else 1.0
    cell = gap / 2
    half_width = float(boundaries[-1]) + 2 * cell
    cells = math.ceil(2 * half_width / cell)
    left_edges = -half_width + cell * np.arange(cells)
    lut = np.searchsorted(boundaries, left_edges, side="right")
    return Table(
        bits=bits,
        levels=torch.tensor(levels, dtype=torch.float32, device=device),
        upper=torch.tensor(np.append(boundaries, np.inf), dtype=torch.float32, device=device),
        lut=torch.tensor(lut, dtype=torch.int32, device=device),
        half_width=half_width,
        cell=cell,
    )


def chunk_sizes(n: int, split: str) -> list[int]:
    """Power-of-two lengths the rotation works on: one padded length, or n's binary digits of at least
    ``MIN_CHUNK`` (largest first) with the remainder padded into one more chunk. Short chunks are avoided because a
    randomized Hadamard rotation is only close to a uniform random one (which EDEN's unbiasedness assumes) when long.
    """
    if n == 0:
        return []
    if split == "pad" or n < MIN_CHUNK:
        return [1 << (n - 1).bit_length()]
    digits = [1 << k for k in reversed(range(n.bit_length())) if n >> k & 1 and 1 << k >= MIN_CHUNK]
    remainder = n - sum(digits)
    return digits + ([1 << (remainder - 1).bit_length()] if remainder else [])


def sign_words(n: int, seed: int) -> torch.Tensor:
    """The ⌈n/32⌉ random int32 words behind the signs of n coordinates (CPU): bit j of word i is coordinate j·W + i's
    sign, W = ⌈n/32⌉."""
    width = -(-n // 32)
    return torch.randint(-(2**31), 2**31, (width,), dtype=torch.int32, generator=generator(derive_seed(seed, ROTATION)))


def flip_signs(x: torch.Tensor, seed: int) -> torch.Tensor:
    """diag(s)·x for the seeded Rademacher s, as a new tensor: an XOR of the float sign bit.

    One random 32-bit word feeds 32 coordinates (``sign_words``), so drawing is n/32 values, and the masks are
    expanded a few rows of W at a time (at most ``SLICE`` elements).
    """
    n = x.numel()
    if n == 0:
        return torch.empty_like(x)
    words = sign_words(n, seed)
    width = words.numel()
    words = words.to(x.device).unsqueeze(0)
    out = torch.empty_like(x)
    source, target = x.view(torch.int32), out.view(torch.int32)
    rows = max(1, SLICE // width)
    for first in range(0, -(-n // width), rows):
        last = min(first + rows, 32)
        lo, hi = first * width, min(last * width, n)
        shifts = torch.arange(31 - first, 31 - last, -1, dtype=torch.int32, device=x.device).unsqueeze(1)
        masks = ((words << shifts) & -(2**31)).view(-1)[: hi - lo]
        torch.bitwise_xor(source[lo:hi], masks, out=target[lo:hi])
    return out


def seeded_mask(n: int, probability: float, seed: int, key: int, device: torch.device) -> torch.Tensor:
    """Bernoulli(probability) bool mask of length n from the stream ``key`` of ``seed``."""
    return (torch.rand(n, generator=generator(derive_seed(seed, key))) < probability).to(device)


def _streams(bits: float, n: int, seed: int, device: torch.device) -> list[tuple[Table, torch.Tensor | None]]:
    """The quantisers in use and, for fractional b, which rotated coordinates each one takes."""
    low = int(math.floor(bits))
    if bits == low:
        return [(table(low, device), None)]
    high = seeded_mask(n, bits - low, seed, MIX, device)
    return [(table(low, device), ~high), (table(low + 1, device), high)]


def _joined(parts: list[torch.Tensor]) -> torch.Tensor:
    """Pieces as one tensor (no copy for a single piece; an empty byte stream for none)."""
    if not parts:
        return torch.zeros(0, dtype=torch.uint8)
    return parts[0] if len(parts) == 1 else torch.cat(parts)


class Eden(Compressor):
    def __init__(self, bits: float, split: str, packet_loss: float, shared_rotation: bool, worker: int):
        self.bits = bits
        self.split = split
        self.packet_loss = packet_loss
        self.shared_rotation = shared_rotation
        self.worker = worker
        self.kernel = eden_kernel.AVAILABLE  # False: the torch path everywhere (the reference the tests compare with)

    def compress(self, flat: torch.Tensor, seed: int) -> Payload:
        seed = seed if self.shared_rotation else derive_seed(seed, self.worker)
        x = flat.reshape(-1).to(torch.float32)
        n = x.numel()
        if self.bits < 1:
            x = x[seeded_mask(n, self.bits, seed, SUBSAMPLE, x.device)] / self.bits
        sizes = chunk_sizes(x.numel(), self.split)
        if self._kernel_applies(x.device, n, self.bits):
            tensors = _compress_kernel(x.detach().contiguous(), sizes, seed, int(max(self.bits, 1.0)))
        else:
            tensors = self._compress_torch(x, sizes, seed)
        return Payload(tensors=tensors, numel=n, meta={"seed": seed, "bits": self.bits})

    def _kernel_applies(self, device: torch.device, numel: int, bits: float, decoding: bool = False) -> bool:
        """The fused CPU kernel covers long inputs with whole bits (or sub-sampling to 1 bit); short inputs,
        fractional bits and simulated packet loss (when decoding) take the torch path."""
        return (self.kernel and device.type == "cpu" and numel >= eden_kernel.MIN_NUMEL
                and (bits < 1 or bits == int(bits)) and not (decoding and self.packet_loss > 0))

    def _compress_torch(self, x: torch.Tensor, sizes: list[int], seed: int) -> list[torch.Tensor]:
        """The reference path (any device, every option): the kernel's bytes are checked against these."""
        total_size = sum(sizes)
        if total_size > x.numel():
            x = torch.nn.functional.pad(x, (0, total_size - x.numel()))
        x = flip_signs(x.contiguous(), seed)
        streams = _streams(max(self.bits, 1.0), total_size, seed, x.device)
        packed: list[list[torch.Tensor]] = [[] for _ in streams]
        scales = torch.zeros(len(sizes))
        start = 0
        for c, size in enumerate(sizes):
            chunk = x[start : start + size]
            # float64 squares (exact) summed in summation's order: see Table.quantize
            norm = math.sqrt(total([row_tree(piece.double().square()) for piece in chunk.split(SLICE)]))
            h = fwht(chunk, overwrite_x=True)  # x is this call's own sign-flipped copy
            dots = []
            for lo in range(0, size, SLICE):
                piece = h[lo : lo + SLICE]
                lanes = []
                for (tab, where), out in zip(streams, packed):
                    selected = piece if where is None else piece[where[start + lo : start + lo + piece.numel()]]
                    idx, part = tab.quantize(selected, norm)
                    lanes.append(part)
                    out.append(pack(idx, tab.bits))
                dots.append(sum(lanes[1:], lanes[0]))
            dot = total(dots)
            scales[c] = norm * norm / dot if dot > 0 else 0.0
            start += size
        return [*(_joined(p) for p in packed), scales.to(x.device)]

    def decompress(self, payload: Payload) -> torch.Tensor:
        seed, bits, n = payload.meta["seed"], payload.meta["bits"], payload.numel
        *packed, scales = payload.tensors
        device = scales.device
        keep = seeded_mask(n, bits, seed, SUBSAMPLE, device) if bits < 1 else None
        kept = int(keep.sum()) if keep is not None else n
        sizes = chunk_sizes(kept, self.split)
        if not sizes:
            return torch.zeros(n, dtype=torch.float32, device=device)
        if self._kernel_applies(device, n, bits, decoding=True):
            out = _decompress_kernel(packed[0], scales, sizes, seed, int(max(bits, 1.0)))[:kept]
        else:
            out = self._decompress_torch(packed, scales, sizes, seed, bits)[:kept]
        if keep is None:
            return out
        full = torch.zeros(n, dtype=torch.float32, device=device)
        full[keep] = out
        return full

    def _decompress_torch(self, packed: list[torch.Tensor], scales: torch.Tensor, sizes: list[int], seed: int,
                          bits: float) -> torch.Tensor:
        device = scales.device
        total_size = sum(sizes)
        streams = _streams(max(bits, 1.0), total_size, seed, device)
        received = (~seeded_mask(total_size, self.packet_loss, seed, LOSS, device)) if self.packet_loss > 0 else None
        rescale = 1.0 / (1.0 - self.packet_loss)
        rotated = []
        offsets = [0] * len(streams)  # bytes of each packed stream consumed so far
        start = 0
        for c, size in enumerate(sizes):
            scale = float(scales[c]) * rescale
            values = torch.empty(size, dtype=torch.float32, device=device)
            for lo in range(0, size, SLICE):
                span = slice(start + lo, start + min(lo + SLICE, size))
                piece = values[lo : lo + SLICE]
                for s, (tab, where) in enumerate(streams):
                    count = piece.numel() if where is None else int(where[span].sum())
                    nbytes = packed_bytes(count, tab.bits)
                    idx = unpack(packed[s][offsets[s] : offsets[s] + nbytes], count, tab.bits)
                    offsets[s] += nbytes
                    if where is None:
                        torch.index_select(tab.levels * scale, 0, idx, out=piece)
                    else:
                        piece[where[span]] = (tab.levels * scale).index_select(0, idx)
                if received is not None:
                    piece.mul_(received[span])
            rotated.append(fwht(values, overwrite_x=True))
            start += size
        return flip_signs(_joined(rotated), seed)


def _compress_kernel(x: torch.Tensor, sizes: list[int], seed: int, bits: int) -> list[torch.Tensor]:
    """``Eden._compress_torch``'s tensors from the fused CPU kernel (one stream of whole bits)."""
    tab = table(bits, x.device)
    total_size = sum(sizes)
    words = sign_words(total_size, seed).numpy().view(np.uint32)
    packed = torch.empty(sum(packed_bytes(min(size, SLICE), bits) * -(-size // SLICE) for size in sizes),
                         dtype=torch.uint8)
    scales = torch.zeros(len(sizes))
    source, out = x.numpy(), packed.numpy()
    levels, lut = tab.levels.double().numpy(), tab.lut.numpy()
    start = offset = 0
    for c, size in enumerate(sizes):
        buf = eden_kernel.SCRATCH.take(size)
        norm = math.sqrt(eden_kernel.rotate(source, start, buf, words, words.size))
        nbytes = packed_bytes(min(size, SLICE), bits) * -(-size // SLICE)
        if norm > 0:
            dot = eden_kernel.quantize_pack(buf, bits, np.float32(1.0 / (tab.cell * norm)),
                                            np.float32(tab.half_width / tab.cell), lut,
                                            tab.thresholds(norm).numpy(), levels, out[offset : offset + nbytes])
            scales[c] = norm * norm / dot if dot > 0 else 0.0
        else:
            out[offset : offset + nbytes] = 0
        start += size
        offset += nbytes
    return [packed, scales]


def _decompress_kernel(packed: torch.Tensor, scales: torch.Tensor, sizes: list[int], seed: int,
                       bits: int) -> torch.Tensor:
    """``Eden._decompress_torch``'s result (padded length) from the fused CPU kernel."""
    tab = table(bits, scales.device)
    total_size = sum(sizes)
    words = sign_words(total_size, seed).numpy().view(np.uint32)
    result = torch.empty(total_size, dtype=torch.float32)
    source, out = packed.detach().contiguous().numpy(), result.numpy()
    start = offset = 0
    for c, size in enumerate(sizes):
        nbytes = packed_bytes(min(size, SLICE), bits) * -(-size // SLICE)
        eden_kernel.dequantize_rotate(source[offset : offset + nbytes], bits, (tab.levels * float(scales[c])).numpy(),
                                      out[start : start + size], start, words, words.size)
        start += size
        offset += nbytes
    return result


class EdenConfig(ConfigModel):
    kind: Literal["eden"] = "eden"
    bits: float = Field(
        1.0, gt=0, le=8,
        description="Bits per coordinate. 1..8 (fractional values mix the floor/ceil tables by a seeded mask); "
        "below 1, coordinates are sub-sampled with this probability and sent with 1 bit.",
    )
    worker_bits: tuple[Annotated[float, Field(gt=0, le=8)], ...] = Field(
        (), description="Heterogeneous budgets: worker i sends worker_bits[i] bits per coordinate (empty: all use bits)."
    )
    split: Literal["chunk", "pad"] = Field(
        "chunk",
        description="Non-power-of-two lengths: rotate power-of-two chunks (binary digits of n down to 256, the rest "
        "padded: under n·b + 256·b bits) or zero-pad to the next power of two (one rotation, up to twice the bits).",
    )
    packet_loss: float = Field(
        0.0, ge=0, lt=1,
        description="Simulated fraction of rotated coordinates lost in transit; decoding rescales the rest by "
        "1/(1 − p) and stays unbiased.",
    )
    shared_rotation: bool = Field(
        False,
        description="All workers use the step seed's rotation (and masks) instead of private ones: averaging then "
        "no longer divides the error by the number of workers.",
    )

    def build(self, worker: int = 0) -> Compressor:
        if self.worker_bits and not 0 <= worker < len(self.worker_bits):
            raise ValueError(f"worker {worker} has no entry in worker_bits (length {len(self.worker_bits)})")
        bits = self.worker_bits[worker] if self.worker_bits else self.bits
        return Eden(bits, self.split, self.packet_loss, self.shared_rotation, worker)
