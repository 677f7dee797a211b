"""The two collectives the distributed algorithms need (sum in place, gather bytes), over torch.distributed or
Horovod, plus the compressed mean built on them: the one place where a compressor meets the wire.

Wire accounting: every collective adds to ``bytes_sent`` the bytes of the tensors this worker hands to the backend
(the summed buffers; for a gather, the 8-byte size it announces plus its byte frame, padded to the largest frame
where the backend needs equal sizes). Backend-internal traffic (ring steps, Horovod's negotiation) is not counted.

Overlap: ``start_sum`` and ``start_gather_bytes`` launch the collective and return a future, so a DDP comm hook can
hand DDP a bucket's mean while the backward of the remaining layers runs (torch backend: the process group's async
work; Horovod: completed futures, its one fused exchange per step runs after backward). Every collective is launched
by the calling thread, in the same order on every rank; future callbacks only copy and decode, never launch one
(collectives launched from callbacks interleave differently on different ranks, see ``hooks._one_bucket_at_a_time``).
"""

from __future__ import annotations

import math
import pickle
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.futures import Future

from spotlab.tasks.compress.base import Compressor, Payload


class Collective(ABC):
    rank: int
    world: int
    bytes_sent: int = 0

    @abstractmethod
    def start_sum(self, tensors: list[torch.Tensor]) -> Future[None]:
        """Start replacing every tensor by its elementwise sum over the workers; done when they hold it."""

    @abstractmethod
    def start_gather_bytes(self, frame: torch.Tensor) -> Future[list[torch.Tensor]]:
        """Start gathering every worker's 1-D uint8 ``frame`` (lengths may differ); the value: frames in rank order."""

    @abstractmethod
    def close(self) -> None:
        """Leave the collective (every worker calls it once, after its last collective)."""

    def sum_(self, tensors: list[torch.Tensor]) -> None:
        self.start_sum(tensors).wait()

    def gather_bytes(self, frame: torch.Tensor) -> list[torch.Tensor]:
        return self.start_gather_bytes(frame).wait()

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


def completed(value: Any) -> Future:
    """A future that already holds ``value`` (for backends whose collectives return when done)."""
    future: Future = Future()
    future.set_result(value)
    return future


class TorchCollective(Collective):
    """The default process group (gloo on CPU, NCCL on GPU); tensors of one dtype travel in one allreduce."""

    def __init__(self):
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.bytes_sent = 0

    def close(self) -> None:
        dist.destroy_process_group()

    @property
    def device(self) -> torch.device:
        """Where gathered frames travel: NCCL moves CUDA tensors only (the worker's device, set after joining)."""
        nccl = dist.get_backend() == "nccl"
        return torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")

    def start_sum(self, tensors: list[torch.Tensor]) -> Future[None]:
        groups = flat_by_dtype(tensors)
        works = []
        for _, flat in groups:
            works.append(dist.all_reduce(flat, async_op=True).get_future())
            self.bytes_sent += flat.numel() * flat.element_size()

        def copy_all(_) -> None:
            for group, flat in groups:
                copy_back(group, flat)

        return torch.futures.collect_all(works).then(copy_all)

    def start_gather_bytes(self, frame: torch.Tensor) -> Future[list[torch.Tensor]]:
        """all_gather needs equal sizes: exchange the lengths (a small blocking gather), pad every frame to the
        longest, then gather the frames asynchronously and trim."""
        device = self.device
        size = torch.tensor([frame.numel()], dtype=torch.int64, device=device)
        sizes = [torch.zeros_like(size) for _ in range(self.world)]
        dist.all_gather(sizes, size)
        longest = max(int(s) for s in sizes)
        padded = torch.zeros(longest, dtype=torch.uint8, device=device)
        padded[: frame.numel()] = frame
        frames = [torch.empty_like(padded) for _ in range(self.world)]
        work = dist.all_gather(frames, padded, async_op=True)
        self.bytes_sent += size.numel() * size.element_size() + longest
        return work.get_future().then(lambda _: [f[: int(s)].cpu() for f, s in zip(frames, sizes)])


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

    ``start(tensors, step)`` launches the exchange and returns ``(payloads, future)``: this worker's payloads and a
    future of (1/K)·Σ_k C(t_k). ``mean`` is that future alone (the DDP hook's and the fused Horovod step's: no decode
    of the own payload); calling the exchange returns ``(own, mean)`` with this worker's decoded C(t_k) (what error
    feedback subtracts), decoded while the collective runs. Allreduce-compatible payloads are summed on the wire
    (ring-allreduce); the others are gathered as byte frames (:func:`encode_payloads`) and decoded one worker at a
    time. ``bytes_sent`` is what this worker handed to the backend for these exchanges, as the collective meters it
    (sizes, headers, padding).
    """

    def __init__(self, compressor: Compressor, collective: Collective, seed: int):
        self.compressor = compressor
        self.collective = collective
        self.seed = seed
        self.bytes_sent = 0

    def start(self, tensors: list[torch.Tensor], step: int) -> tuple[list[Payload], Future[list[torch.Tensor]]]:
        codec, world = self.compressor, self.collective.world
        payloads = [codec.compress(t.reshape(-1), step_seed(self.seed, step, i)) for i, t in enumerate(tensors)]
        metered = self.collective.bytes_sent
        if codec.allreduce_compatible:
            # Summed into copies: the payloads stay this worker's own while the sum is in flight.
            summed = [Payload([w.clone() for w in p.tensors], p.numel, dict(p.meta)) for p in payloads]
            future = self.collective.start_sum([w for p in summed for w in p.tensors]).then(
                lambda _: [codec.decompress(p).view_as(t).div_(world) for p, t in zip(summed, tensors)]
            )
        else:
            device = tensors[0].device

            def mean_of_frames(gathered: Future[list[torch.Tensor]]) -> list[torch.Tensor]:
                everyone = [decode_payloads(f, device) for f in gathered.value()]
                return [
                    torch.stack([codec.decompress(theirs[i]) for theirs in everyone]).mean(0).view_as(t)
                    for i, t in enumerate(tensors)
                ]

            future = self.collective.start_gather_bytes(encode_payloads(payloads)).then(mean_of_frames)
        self.bytes_sent += self.collective.bytes_sent - metered
        return payloads, future

    def mean(self, tensors: list[torch.Tensor], step: int) -> Future[list[torch.Tensor]]:
        return self.start(tensors, step)[1]

    def __call__(self, tensors: list[torch.Tensor], step: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        payloads, future = self.start(tensors, step)
        own = [_owned(self.compressor.decompress(p).view_as(t), t) for p, t in zip(payloads, tensors)]
        return own, future.wait()


def _owned(decoded: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``decoded``, copied only when it shares memory with ``source`` (lossless codecs may return their input)."""
    shares = decoded.untyped_storage().data_ptr() == source.untyped_storage().data_ptr()
    return decoded.clone() if shares else decoded
