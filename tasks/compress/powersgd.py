"""PowerSGD (Vogels et al., 2019): a rank-r approximation P·Qᵀ of the gradient viewed as a matrix.

In DDP training spotlab registers torch's built-in hook (torch.distributed.algorithms.ddp_comm_hooks.powerSGD_hook,
see tasks/distributed/hooks.py), which per bucket allreduces P = M·Q, orthogonalises it, allreduces Q = Mᵀ·P, keeps
its own error feedback and warm-starts Q from the previous step. This single-process compressor is the same one
power-iteration step without the state: Q starts from the step seed (identical on every worker, as in the hook),
so it measures a cold-start step's error and bytes. The flat vector is viewed as a near-square matrix (zero-padded).
It is not allreduce-compatible: Σ_k P_k·Q_kᵀ ≠ (Σ_k P_k)·(Σ_k Q_k)ᵀ.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.compress.base import Compressor, Payload, generator


def matrix_shape(numel: int) -> tuple[int, int]:
    rows = max(1, math.isqrt(numel))
    return rows, -(-numel // rows)


class PowerSGD(Compressor):
    def __init__(self, rank: int):
        self.rank = rank

    def compress(self, flat: torch.Tensor, seed: int) -> Payload:
        n = flat.numel()
        rows, cols = matrix_shape(n)
        m = torch.nn.functional.pad(flat.reshape(-1).float(), (0, rows * cols - n)).view(rows, cols)
        r = min(self.rank, rows, cols)
        q = torch.randn(cols, r, generator=generator(seed)).to(m.device)
        p = torch.linalg.qr(m @ q).Q
        return Payload(tensors=[p, m.T @ p], numel=n)

    def decompress(self, payload: Payload) -> torch.Tensor:
        p, q = payload.tensors
        return (p @ q.T).reshape(-1)[: payload.numel]


class PowerSGDConfig(ConfigModel):
    kind: Literal["powersgd"] = "powersgd"
    rank: int = Field(2, ge=1, le=64, description="Rank r of the P·Qᵀ approximation (torch's matrix_approximation_rank).")

    def build(self, worker: int = 0) -> Compressor:
        return PowerSGD(self.rank)
