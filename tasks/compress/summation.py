"""The one summation order of EDEN's float64 sums (‖x‖² and ⟨c[idx], h⟩), shared by the torch path and the kernel.

Floating-point sums depend on their order, and EDEN's scale σ = ‖x‖²/⟨c[idx], h⟩ is stored on the wire, so the pure
torch path and the fused kernel (``eden_kernel.py``) must add in the same order to send the same bytes. The order:
the values (float64, exact squares and products of float32 numbers) are laid out as rows of ``LANES``; rows are
added pairwise, neighbours first ((r0 + r1) + (r2 + r3)) ..., a power-of-two number of rows at a time), which a
streaming kernel reproduces with a small stack; then the ``LANES`` lanes are halved (lane i + lane i + LANES/2, ...).
torch's own ``sum`` promises no order, so it cannot be the reference.
"""

from __future__ import annotations

import torch

LANES = 8


def row_tree(values: torch.Tensor) -> torch.Tensor:
    """The (LANES,) pairwise sum of the rows of a flat float64 tensor. Other lengths than a power-of-two number of
    rows are zero-padded to one (adding an exact zero changes no sum)."""
    rows = 1 << (max(1, -(-values.numel() // LANES)) - 1).bit_length()
    if values.numel() < rows * LANES:
        values = torch.nn.functional.pad(values, (0, rows * LANES - values.numel()))
    rows = values.view(-1, LANES)
    while rows.shape[0] > 1:
        rows = rows[0::2] + rows[1::2]
    return rows[0]


def total(rows: list[torch.Tensor]) -> float:
    """The sum of consecutive pieces' ``row_tree`` results (a power-of-two count of equal pieces): their pairwise
    tree, then the lanes halved."""
    lanes = row_tree(torch.stack(rows).view(-1)) if len(rows) > 1 else rows[0]
    while lanes.numel() > 1:
        half = lanes.numel() // 2
        lanes = lanes[:half] + lanes[half:]
    return float(lanes[0])
