"""The compressor interface shared by DDP comm hooks, Horovod's compression API and the benchmarks.

A compressor turns one flat float tensor into a :class:`Payload` (the tensors that go on the wire plus the small
metadata the receiver needs) and back. ``seed`` is the step's shared randomness: every worker passes the same
value for the same step, so seeded index choices (random-block, random-k) agree across ranks.

* ``allreduce_compatible`` compressors produce payloads whose ``tensors`` may be summed elementwise across workers
  (ring-allreduce); ``decompress`` of the summed payload divided by the number of workers is then the mean.
* The others (top-k, qsgd, eden) must be gathered and decoded one payload per worker, then averaged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class Payload:
    tensors: list[torch.Tensor]  # what goes on the wire (packed where the method packs)
    numel: int  # length of the original flat tensor
    meta: dict = field(default_factory=dict)  # small scalars the receiver needs (scale, seed, bits, ...)

    def wire_bytes(self) -> int:
        """Exact bytes sent: every wire tensor's storage plus 4 bytes per metadata scalar."""
        return sum(t.numel() * t.element_size() for t in self.tensors) + 4 * len(self.meta)


class Compressor(ABC):
    allreduce_compatible: bool = False

    @abstractmethod
    def compress(self, flat: torch.Tensor, seed: int) -> Payload:
        """Encode a 1-D float tensor."""

    @abstractmethod
    def decompress(self, payload: Payload) -> torch.Tensor:
        """Decode to a 1-D float32 tensor of length ``payload.numel``."""


def sum_payloads(payloads: list[Payload]) -> Payload:
    """Elementwise sum of allreduce-compatible payloads (what a ring-allreduce of their tensors computes)."""
    first = payloads[0]
    for p in payloads[1:]:
        if p.numel != first.numel or p.meta != first.meta or len(p.tensors) != len(first.tensors):
            raise ValueError("payloads differ in length or metadata: were they made with the same step seed?")
    tensors = [torch.stack(parts).sum(0, dtype=parts[0].dtype) for parts in zip(*(p.tensors for p in payloads))]
    return Payload(tensors=tensors, numel=first.numel, meta=dict(first.meta))


def derive_seed(seed: int, *keys: int) -> int:
    """An independent seed derived from ``seed`` and ``keys`` (e.g. a worker's private seed for one step)."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1, np.uint64)[0] >> 1)


def generator(seed: int) -> torch.Generator:
    """A CPU generator: identical streams on every machine and device for the same seed."""
    return torch.Generator().manual_seed(seed)
