"""The two collectives the distributed algorithms need (sum in place, gather bytes), over torch.distributed or
Horovod, plus the compressed mean built on them: the one place where a compressor meets the wire.

Wire accounting: every collective adds to ``bytes_sent`` the bytes of the tensors this worker hands to the backend
(the summed buffers; for a gather, the 8-byte size it announces plus its byte frame, padded to the largest frame
where the backend needs equal sizes). Backend-internal traffic (ring steps, Horovod's negotiation) is not counted.
"""

from __future__ import annotations

import math
import pickle
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from spotlab.tasks.compress.base import Compressor, Payload


class Collective(ABC):
    rank: int
    world: int
    bytes_sent: int = 0

    @abstractmethod
    def sum_(self, tensors: list[torch.Tensor]) -> None:
        """Replace every tensor by its elementwise sum over the workers."""

    @abstractmethod
    def gather_bytes(self, frame: torch.Tensor) -> list[torch.Tensor]:
        """Every worker's 1-D uint8 ``frame`` (lengths may differ), in rank order."""

    def gather(self, value: Any) -> list[Any]:
        """Every worker's ``value`` (picklable), in rank order."""
        return [pickle.loads(f.numpy().tobytes()) for f in self.gather_bytes(_frame(pickle.dumps(value)))]


def _frame(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.zeros(0, dtype=torch.uint8)


def flat_by_dtype(tensors: list[torch.Tensor]) -> list[tuple[list[torch.Tensor], torch.Tensor]]:
    """The tensors grouped by dtype, each group with one flat copy: one collective per dtype instead of per tensor."""
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype, []).append(t)
    return [(group, torch.cat([t.reshape(-1) for t in group])) for group in by_dtype.values()]


def copy_back(group: list[torch.Tensor], flat: torch.Tensor) -> None:
    for t, part in zip(group, flat.split([t.numel() for t in group])):
        t.copy_(part.view_as(t))


class TorchCollective(Collective):
    """The default process group (gloo on CPU, NCCL on GPU); tensors of one dtype travel in one allreduce."""

    def __init__(self):
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.bytes_sent = 0

    @property
    def device(self) -> torch.device:
        """Where gathered frames travel: NCCL moves CUDA tensors only (the worker's device, set after joining)."""
        nccl = dist.get_backend() == "nccl"
        return torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")

    def sum_(self, tensors: list[torch.Tensor]) -> None:
        for group, flat in flat_by_dtype(tensors):
            dist.all_reduce(flat)
            self.bytes_sent += flat.numel() * flat.element_size()
            copy_back(group, flat)

    def gather_bytes(self, frame: torch.Tensor) -> list[torch.Tensor]:
        """all_gather needs equal sizes: exchange the lengths, pad every frame to the longest, gather, trim."""
        device = self.device
        size = torch.tensor([frame.numel()], dtype=torch.int64, device=device)
        sizes = [torch.zeros_like(size) for _ in range(self.world)]
        dist.all_gather(sizes, size)
        longest = max(int(s) for s in sizes)
        padded = torch.zeros(longest, dtype=torch.uint8, device=device)
        padded[: frame.numel()] = frame
        frames = [torch.empty_like(padded) for _ in range(self.world)]
        dist.all_gather(frames, padded)
        self.bytes_sent += size.numel() * size.element_size() + longest
        return [f[: int(s)].cpu() for f, s in zip(frames, sizes)]


def encode_payloads(payloads: list[Payload]) -> torch.Tensor:
    """Payloads as one uint8 frame: a small pickled header (lengths, metadata, each tensor's dtype and shape) and the
    tensors' raw bytes; no tensor is pickled."""
    header = pickle.dumps([(p.numel, p.meta, [(str(t.dtype), tuple(t.shape)) for t in p.tensors]) for p in payloads])
    body = [t.detach().reshape(-1).cpu().contiguous().view(torch.uint8) for p in payloads for t in p.tensors]
    return torch.cat([torch.tensor(np.array([len(header)], dtype="<i8").view(np.uint8)), _frame(header), *body])


def decode_payloads(frame: torch.Tensor, device: torch.device) -> list[Payload]:
    length = int(np.frombuffer(frame[:8].numpy().tobytes(), dtype="<i8")[0])
    header = pickle.loads(frame[8 : 8 + length].numpy().tobytes())
    offset, payloads = 8 + length, []
    for numel, meta, specs in header:
        tensors = []
        for dtype_name, shape in specs:
            dtype = getattr(torch, dtype_name.removeprefix("torch."))
            nbytes = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
            tensors.append(frame[offset : offset + nbytes].clone().view(dtype).view(shape).to(device))
            offset += nbytes
        payloads.append(Payload(tensors, numel, meta))
    return payloads


def step_seed(seed: int, step: int, index: int) -> int:
    """The randomness of tensor ``index`` at ``step``: equal on every worker, independent across steps/tensors."""
    return int(np.random.SeedSequence([seed, step, index]).generate_state(1, np.uint64)[0] >> 1)


class CompressedMean:
    """Compress each worker's tensors, average them over the workers and decode.

    Returns ``(own, mean)``: this worker's decoded compression C(t_k) (what error feedback subtracts) and
    (1/K)·Σ_k C(t_k). Allreduce-compatible payloads are summed on the wire (ring-allreduce); the others are
    gathered as byte frames (:func:`encode_payloads`) and decoded one worker at a time. ``bytes_sent`` is what this
    worker handed to the backend for these exchanges, as the collective meters it (sizes, headers, padding).
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
        metered = self.collective.bytes_sent
        if codec.allreduce_compatible:
            summed = [Payload([w.clone() for w in p.tensors], p.numel, dict(p.meta)) for p in payloads]
            self.collective.sum_([w for p in summed for w in p.tensors])
            mean = [codec.decompress(p).view_as(t).div_(world) for p, t in zip(summed, tensors)]
        else:
            everyone = [decode_payloads(f, tensors[0].device) for f in self.collective.gather_bytes(
                encode_payloads(payloads))]
            mean = [
                torch.stack([codec.decompress(theirs[i]) for theirs in everyone]).mean(0).view_as(t)
                for i, t in enumerate(tensors)
            ]
        self.bytes_sent += self.collective.bytes_sent - metered
        return own, mean


def _owned(decoded: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``decoded``, copied only when it shares memory with ``source`` (lossless codecs may return their input)."""
    shares = decoded.untyped_storage().data_ptr() == source.untyped_storage().data_ptr()
    return decoded.clone() if shares else decoded
