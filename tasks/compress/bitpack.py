"""Pack small unsigned integers (b bits each, 1 ≤ b ≤ 8) into ⌈n/8⌉·b bytes and back, with vectorised torch ops.

Layout: the n values (zero-padded to a multiple of 8) are split into 8 contiguous rows of m = n/8 values; value j of
row k occupies bits [k·b, (k+1)·b) of word j (int32 when 8·b ≤ 32, else int64); the wire holds the words' low b
bytes as b contiguous byte planes of m bytes. Every step is a whole-row shift/or, never a per-element loop.
"""

from __future__ import annotations

import torch


def _word_dtype(bits: int) -> torch.dtype:
    return torch.int32 if bits <= 4 else torch.int64


def packed_bytes(n: int, bits: int) -> int:
    return -(-n // 8) * bits


def pack(values: torch.Tensor, bits: int) -> torch.Tensor:
    """uint8 tensor of ``packed_bytes(len(values), bits)`` bytes; values must lie in [0, 2^bits)."""
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be in 1..8, got {bits}")
    n = values.numel()
    m = -(-n // 8)
    if n == 8 * m:
        rows = values.reshape(8, m).to(_word_dtype(bits))
    else:
        rows = torch.zeros(8 * m, dtype=_word_dtype(bits), device=values.device)
        rows[:n] = values.reshape(-1)
        rows = rows.view(8, m)
    words = rows[0].clone()
    for k in range(1, 8):
        words |= rows[k] << (k * bits)
    planes = torch.empty(bits, m, dtype=torch.uint8, device=values.device)
    for p in range(bits):
        planes[p] = words >> (8 * p)  # the cast to uint8 keeps the low byte
    return planes.view(-1)


def unpack(packed: torch.Tensor, n: int, bits: int) -> torch.Tensor:
    """The first ``n`` values (int32, ready to index with) of a ``pack(values, bits)`` result."""
    m = -(-n // 8)
    planes = packed.view(bits, m)
    words = planes[0].to(_word_dtype(bits))
    for p in range(1, bits):
        words |= planes[p].to(words.dtype) << (8 * p)
    values = torch.empty(8, m, dtype=torch.int32, device=packed.device)
    mask = 2**bits - 1
    for k in range(8):
        values[k] = (words >> (k * bits)) & mask
    return values.view(-1)[:n]
