"""DDP communication hooks: any compressor through :class:`CompressedMean`, or torch's own PowerSGD.

(No ``from __future__ import annotations`` here: DDP checks the hook's annotations as real types.)
"""

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from spotlab.tasks.distributed.collective import CompressedMean


@dataclass
class HookState:
    exchange: CompressedMean
    calls: int = 0  # seeds each bucket's compression; every rank reduces buckets in the same order


def compressed_mean_hook(state: HookState, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
    """Replace DDP's allreduce of a gradient bucket by the compressed mean of its flat buffer: one payload per
    bucket, not per parameter, because EDEN's rotation is only close to a uniform one (and the estimate unbiased)
    on long vectors (docs/compression.md, "Buckets").

    Returns while the collective runs (the process group's async work), so the bucket's communication overlaps
    the backward of the layers before it; the decode of the mean runs when the collective completes, and this
    worker's own payload is never decoded (only error feedback needs it)."""
    buffer = bucket.buffer()
    mean = state.exchange.mean([buffer], state.calls)
    state.calls += 1
    return mean.then(lambda done: done.value()[0].to(buffer.dtype))


def register_compressed_mean(ddp: DistributedDataParallel, exchange: CompressedMean) -> None:
    ddp.register_comm_hook(HookState(exchange), compressed_mean_hook)


# PowerSGD's hook allreduces plainly for its first iterations; 2 is the earliest start it accepts with warm start.
POWERSGD_START_ITER = 2
POWERSGD_MIN_COMPRESSION_RATE = 2.0


def register_powersgd(ddp: DistributedDataParallel, rank: int, seed: int) -> None:
    from torch.distributed.algorithms.ddp_comm_hooks import powerSGD_hook as powersgd

    state = powersgd.PowerSGDState(
        process_group=None,
        matrix_approximation_rank=rank,
        start_powerSGD_iter=POWERSGD_START_ITER,
        min_compression_rate=POWERSGD_MIN_COMPRESSION_RATE,
        random_seed=seed,
    )
    ddp.register_comm_hook(state, _one_bucket_at_a_time(powersgd.powerSGD_hook))


def _one_bucket_at_a_time(hook):
    """Finish each bucket's collectives before the next bucket's start. PowerSGD chains its allreduces in future
    callbacks; with several buckets on gloo those chains interleave differently on different ranks, and the
    mismatched collectives abort ("Received data size doesn't match expected size")."""

    def run(state, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
        future: torch.futures.Future[torch.Tensor] = torch.futures.Future()
        future.set_result(hook(state, bucket).wait())
        return future

    return run


def powersgd_wire_bytes(model: nn.Module, rank: int) -> int:
    """Bytes per step of torch's PowerSGD hook once it compresses: P and Q factors (fp32) of every matrix worth
    compressing (torch's own rule), the rest allreduced as fp32."""
    total = 0
    for p in model.parameters():
        rows = p.shape[0] if p.ndim > 1 else 1
        cols = p.numel() // rows
        r = min(rows, cols, rank)
        compress = p.ndim > 1 and (rows + cols) * r * POWERSGD_MIN_COMPRESSION_RATE < rows * cols
        total += 4 * ((rows + cols) * r if compress else p.numel())
    return total
