"""The fast Walsh–Hadamard transform (EDEN's rotation is diag(signs) followed by it, see eden.py).

``fwht`` computes ``x @ H_D`` (unnormalised, ``H_D @ H_D = D·I``) along the last dimension with no Python loop over
elements: ``H_D`` is the Kronecker power of a small Hadamard block ``H_B``, so each pass views the vector as
``(before, B, after)`` and multiplies the middle axis by ``H_B`` (one GEMM of the BLAS or cuBLAS). log2(D) levels
take ⌈log2(D)/log2(B)⌉ passes. On the CPU a long vector is first transformed chunk by chunk so the inner levels run
in cache; the remaining levels then cross chunks. The passes ping-pong between two buffers (the input itself is one
of them with ``overwrite_x``).
"""

from __future__ import annotations

import functools

import torch
from scipy.linalg import hadamard

BLOCK_BITS = 4  # H_16 passes: 2^20 floats in 2.8 ms on one AVX-512 core (H_32: 5.5 ms, H_4: 11 ms)
CACHE_BITS = 20  # CPU slices of 2^20 floats (4 MiB) stay in L3 while their inner levels run


@functools.lru_cache(maxsize=None)
def hadamard_block(bits: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.tensor(hadamard(2**bits), dtype=dtype, device=device)


def log2_exact(n: int) -> int:
    if n < 1 or n & (n - 1):
        raise ValueError(f"the Hadamard transform needs a power-of-two length, got {n}")
    return n.bit_length() - 1


def _passes(levels: int) -> list[int]:
    """Block sizes (in bits) covering ``levels``; the odd remainder goes first, where a small block is cheapest."""
    rest = levels % BLOCK_BITS
    return ([rest] if rest else []) + [BLOCK_BITS] * (levels // BLOCK_BITS)


def _transform_bits(src: torch.Tensor, dst: torch.Tensor, groups: int, levels: int, low_bits: int) -> bool:
    """Apply H over the middle axis of ``src`` viewed as (groups, 2^levels, 2^low_bits), one pass per block, the
    outermost bits first. The passes alternate src → dst → src ...; returns whether the result ended in ``dst``."""
    span = 2 ** (levels + low_bits)
    outer = 1
    in_dst = False
    for bits in _passes(levels):
        block = 2**bits
        after = span // (outer * block)
        h = hadamard_block(bits, src.dtype, src.device)
        if after == 1:  # innermost bits: one (N, B) @ (B, B) GEMM; H is symmetric
            torch.matmul(src.view(-1, block), h, out=dst.view(-1, block))
        else:
            torch.matmul(h, src.view(groups * outer, block, after), out=dst.view(groups * outer, block, after))
        src, dst = dst, src
        outer *= block
        in_dst = not in_dst
    return in_dst


def fwht(x: torch.Tensor, overwrite_x: bool = False) -> torch.Tensor:
    """Unnormalised Walsh–Hadamard transform of the last dimension (a power of two). With ``overwrite_x`` a
    contiguous float ``x`` serves as one of the two work buffers (its contents are destroyed), saving a copy."""
    d = x.shape[-1]
    levels = log2_exact(d)
    reuse = overwrite_x and x.is_floating_point() and x.is_contiguous()
    a = x.view(-1) if reuse else x.reshape(-1).to(torch.float32 if not x.is_floating_point() else x.dtype, copy=True)
    b = torch.empty_like(a)
    # Inner levels (the low bits) one cache-sized slice at a time, so each slice's passes run in cache. Every slice
    # takes the same number of passes, so all of them end in the same buffer.
    inner = min(levels, CACHE_BITS) if x.device.type == "cpu" else levels
    step = max(2**inner, 2**CACHE_BITS) if x.device.type == "cpu" else a.numel()
    in_b = False
    for start in range(0, a.numel(), step):
        in_b = _transform_bits(a[start : start + step], b[start : start + step],
                               min(step, a.numel() - start) >> inner, inner, 0)
    src, dst = (b, a) if in_b else (a, b)
    if inner < levels:
        if _transform_bits(src, dst, a.numel() >> levels, levels - inner, inner):
            src = dst
    return src.view(x.shape)
