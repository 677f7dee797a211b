"""The two collectives the distributed algorithms need (sum in place, gather objects), over torch.distributed or
Horovod, plus the compressed mean built on them: the one place where a compressor meets the wire."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from spotlab.tasks.compress.base import Compressor, Payload


class Collective(ABC):
    rank: int
    world: int

    @abstractmethod
    def sum_(self, tensors: list[torch.Tensor]) -> None:
        """Replace every tensor by its elementwise sum over the workers."""

    @abstractmethod
    def gather(self, value: Any) -> list[Any]:
        """Every worker's ``value`` (picklable), in rank order."""


class TorchCollective(Collective):
    """The default process group (gloo on CPU, NCCL on GPU); tensors of one dtype travel in one allreduce."""

    def __init__(self):
        self.rank, self.world = dist.get_rank(), dist.get_world_size()

    def sum_(self, tensors: list[torch.Tensor]) -> None:
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for t in tensors:
            by_dtype.setdefault(t.dtype, []).append(t)
        for group in by_dtype.values():
            flat = torch.cat([t.reshape(-1) for t in group])
            dist.all_reduce(flat)
            for t, part in zip(group, flat.split([t.numel() for t in group])):
                t.copy_(part.view_as(t))

    def gather(self, value: Any) -> list[Any]:
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, value)
        return out


def step_seed(seed: int, step: int, index: int) -> int:
    """The randomness of tensor ``index`` at ``step``: equal on every worker, independent across steps/tensors."""
    return int(np.random.SeedSequence([seed, step, index]).generate_state(1, np.uint64)[0] >> 1)


class CompressedMean:
    """Compress each worker's tensors, average them over the workers and decode.

    Returns ``(own, mean)``: this worker's decoded compression C(t_k) (what error feedback subtracts) and
    (1/K)·Σ_k C(t_k). Allreduce-compatible payloads are summed on the wire (ring-allreduce); the others are
    gathered and decoded one worker at a time. ``bytes_sent`` counts the exact payload bytes this worker sent.
    """

    def __init__(self, compressor: Compressor, collective: Collective, seed: int):
        self.compressor = compressor
        self.collective = collective
        self.seed = seed
        self.bytes_sent = 0

    def __call__(self, tensors: list[torch.Tensor], step: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        codec, world = self.compressor, self.collective.world
        payloads = [codec.compress(t.reshape(-1), step_seed(self.seed, step, i)) for i, t in enumerate(tensors)]
        own = [_owned(codec.decompress(p).view_as(t), t) for p, t in zip(payloads, tensors)]
        self.bytes_sent += sum(p.wire_bytes() for p in payloads)
        if codec.allreduce_compatible:
            summed = [Payload([w.clone() for w in p.tensors], p.numel, dict(p.meta)) for p in payloads]
            self.collective.sum_([w for p in summed for w in p.tensors])
            mean = [codec.decompress(p).view_as(t).div_(world) for p, t in zip(summed, tensors)]
        else:
            everyone = self.collective.gather(payloads)
            mean = [
                torch.stack([codec.decompress(theirs[i]).to(t.device) for theirs in everyone]).mean(0).view_as(t)
                for i, t in enumerate(tensors)
            ]
        return own, mean


def _owned(decoded: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``decoded``, copied only when it shares memory with ``source`` (lossless codecs may return their input)."""
    shares = decoded.untyped_storage().data_ptr() == source.untyped_storage().data_ptr()
    return decoded.clone() if shares else decoded
