"""Sparsifiers: random-block (DEF's URSB), random-k and top-k.

random-block and random-k choose their indices from the shared step seed, so every worker picks the same ones and
only the values travel (allreduce-compatible). top-k's indices depend on each worker's data: values and int32
indices are gathered. None rescales: they are the biased, contractive compressors error feedback expects.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.compress.base import Compressor, Payload, generator


def kept(numel: int, ratio: float) -> int:
    """Entries a sparsifier keeps out of ``numel`` at compression ``ratio`` (at least one)."""
    return max(1, int(numel // ratio))


class RandomBlock(Compressor):
    """One contiguous block of ``numel // ratio`` entries starting at a seeded uniform index, wrapping around."""

    allreduce_compatible = True

    def __init__(self, ratio: float):
        self.ratio = ratio

    def compress(self, flat: torch.Tensor, seed: int) -> Payload:
        n = flat.numel()
        start = int(torch.randint(n, (1,), generator=generator(seed)))
        length = kept(n, self.ratio)
        head = flat[start : start + length]
        block = torch.cat([head, flat[: length - head.numel()]]) if head.numel() < length else head
        return Payload(tensors=[block.float()], numel=n, meta={"start": start})

    def decompress(self, payload: Payload) -> torch.Tensor:
        block, start, n = payload.tensors[0], payload.meta["start"], payload.numel
        out = torch.zeros(n, dtype=torch.float32, device=block.device)
        head = min(block.numel(), n - start)
        out[start : start + head] = block[:head]
        out[: block.numel() - head] = block[head:]
        return out


class RandomK(Compressor):
    """``numel // ratio`` entries at indices drawn without replacement from the shared step seed."""

    allreduce_compatible = True

    def __init__(self, ratio: float):
        self.ratio = ratio

    def _indices(self, numel: int, seed: int, device: torch.device) -> torch.Tensor:
        """A uniform k-subset in O(k) for k ≪ n: numpy's ``choice`` without replacement runs Floyd's algorithm
        there (k < n/50) instead of drawing a permutation of all n."""
        chosen = np.random.default_rng(seed).choice(numel, kept(numel, self.ratio), replace=False)
        return torch.from_numpy(chosen).to(device)

    def compress(self, flat: torch.Tensor, seed: int) -> Payload:
        values = flat[self._indices(flat.numel(), seed, flat.device)].float()
        return Payload(tensors=[values], numel=flat.numel(), meta={"seed": seed})

    def decompress(self, payload: Payload) -> torch.Tensor:
        values = payload.tensors[0]
        out = torch.zeros(payload.numel, dtype=torch.float32, device=values.device)
        out[self._indices(payload.numel, payload.meta["seed"], values.device)] = values
        return out


class TopK(Compressor):
    """The ``numel // ratio`` entries of largest magnitude, sent as fp32 values plus int32 indices."""

    def __init__(self, ratio: float):
        self.ratio = ratio

    def compress(self, flat: torch.Tensor, seed: int) -> Payload:
        indices = flat.abs().topk(kept(flat.numel(), self.ratio), sorted=False).indices
        return Payload(tensors=[flat[indices].float(), indices.int()], numel=flat.numel())

    def decompress(self, payload: Payload) -> torch.Tensor:
        values, indices = payload.tensors
        out = torch.zeros(payload.numel, dtype=torch.float32, device=values.device)
        out[indices.long()] = values
        return out


RatioField = Field(64.0, ge=1, description="Compression ratio: keep numel // ratio entries of each compressed buffer (at least one).")


class RandomBlockConfig(ConfigModel):
    kind: Literal["random-block"] = "random-block"
    ratio: float = RatioField

    def build(self, worker: int = 0) -> Compressor:
        return RandomBlock(self.ratio)


class RandomKConfig(ConfigModel):
    kind: Literal["random-k"] = "random-k"
    ratio: float = RatioField

    def build(self, worker: int = 0) -> Compressor:
        return RandomK(self.ratio)


class TopKConfig(ConfigModel):
    kind: Literal["top-k"] = "top-k"
    ratio: float = RatioField

    def build(self, worker: int = 0) -> Compressor:
        return TopK(self.ratio)
