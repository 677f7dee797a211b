"""QSGD (Alistarh et al., 2017): s uniform levels of |x_i|/‖x‖ with unbiased stochastic rounding.

Wire: ‖x‖ (fp32), one packed sign bit per coordinate and the levels 0..s packed with ⌈log2(s + 1)⌉ bits each. The
rounding noise is private to each worker (seeded from the step seed and the worker), so averaging reduces it.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.compress.base import Compressor, Payload, derive_seed, generator
from spotlab.tasks.compress.bitpack import pack, unpack


class QSGD(Compressor):
    def __init__(self, levels: int, worker: int):
        self.levels = levels
        self.level_bits = levels.bit_length()
        self.worker = worker

    def compress(self, flat: torch.Tensor, seed: int) -> Payload:
        x = flat.reshape(-1).float()
        norm = torch.linalg.vector_norm(x, dtype=torch.float64).float()  # a float32 sum drifts ~1e-4 at large n
        scaled = x.abs() * (self.levels / norm) if norm > 0 else torch.zeros_like(x)
        noise = torch.rand(x.numel(), generator=generator(derive_seed(seed, self.worker))).to(x.device)
        level = (scaled + noise).floor_().clamp_(max=self.levels).to(torch.int32)  # P(⌈r⌉) = r − ⌊r⌋
        tensors = [norm.reshape(1), pack(torch.signbit(x).to(torch.int32), 1), pack(level, self.level_bits)]
        return Payload(tensors=tensors, numel=x.numel())

    def decompress(self, payload: Payload) -> torch.Tensor:
        norm, signs, levels = payload.tensors
        n = payload.numel
        sign = 1.0 - 2.0 * unpack(signs, n, 1).float()
        return sign * unpack(levels, n, self.level_bits).float() * (norm / self.levels)


class QSGDConfig(ConfigModel):
    kind: Literal["qsgd"] = "qsgd"
    levels: int = Field(15, ge=1, le=255, description="Quantisation levels s (s = 2^b − 1 sends b bits + a sign).")

    def build(self, worker: int = 0) -> Compressor:
        return QSGD(self.levels, worker)
