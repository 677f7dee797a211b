"""Dense baselines: no compression (fp32 on the wire) and half precision. Both are allreduce-compatible."""

from __future__ import annotations

from typing import Literal

import torch

from spotlab.models.config import ConfigModel
from spotlab.tasks.compress.base import Compressor, Payload


class Identity(Compressor):
    allreduce_compatible = True

    def compress(self, flat: torch.Tensor, seed: int) -> Payload:
        return Payload(tensors=[flat.float()], numel=flat.numel())

    def decompress(self, payload: Payload) -> torch.Tensor:
        return payload.tensors[0].float()


class HalfPrecision(Compressor):
    allreduce_compatible = True

    def compress(self, flat: torch.Tensor, seed: int) -> Payload:
        return Payload(tensors=[flat.half()], numel=flat.numel())

    def decompress(self, payload: Payload) -> torch.Tensor:
        return payload.tensors[0].float()


class NoCompressionConfig(ConfigModel):
    kind: Literal["none"] = "none"

    def build(self, worker: int = 0) -> Compressor:
        return Identity()


class FP16Config(ConfigModel):
    kind: Literal["fp16"] = "fp16"

    def build(self, worker: int = 0) -> Compressor:
        return HalfPrecision()
