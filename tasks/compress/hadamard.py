"""The fast Walsh–Hadamard transform (EDEN's rotation is diag(signs) followed by it, see eden.py).

``fwht`` computes ``x @ H_D`` (unnormalised, ``H_D @ H_D = D·I``) along the last dimension as the textbook radix-2
butterfly network: level l (stride 2^l, smallest first) replaces each pair (a, b) by (a + b, a − b). The order is
part of the contract: float additions round, so this exact sequence is what the fused CPU kernel
(``eden_kernel.py``) and any other device reproduce bit for bit. Each level is two elementwise torch ops over strided
views (no Python loop over elements; the same code runs on CUDA tensors), ping-ponging between two buffers (the
input itself is one of them with ``overwrite_x``).
"""

from __future__ import annotations

import torch


def log2_exact(n: int) -> int:
    if n < 1 or n & (n - 1):
        raise ValueError(f"the Hadamard transform needs a power-of-two length, got {n}")
    return n.bit_length() - 1


def fwht(x: torch.Tensor, overwrite_x: bool = False) -> torch.Tensor:
    """Unnormalised Walsh–Hadamard transform of the last dimension (a power of two). With ``overwrite_x`` a
    contiguous float ``x`` serves as one of the two work buffers (its contents are destroyed), saving a copy."""
    d = x.shape[-1]
    log2_exact(d)
    reuse = overwrite_x and x.is_floating_point() and x.is_contiguous()
    a = x.view(-1) if reuse else x.reshape(-1).to(torch.float32 if not x.is_floating_point() else x.dtype, copy=True)
    b = torch.empty_like(a)
    half = 1
    while half < d:
        src, dst = a.view(-1, 2, half), b.view(-1, 2, half)
        torch.add(src[:, 0], src[:, 1], out=dst[:, 0])
        torch.sub(src[:, 0], src[:, 1], out=dst[:, 1])
        a, b = b, a
        half *= 2
    return a.view(x.shape)
