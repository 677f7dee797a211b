"""The Horovod backend: horovod.torch's collectives under the same compressed mean as the torch backend.

Horovod is optional (``make horovod`` builds it); this module imports it only when the horovod backend runs. Without
error feedback, each step's gradients are compressed as ONE flat fused buffer of all parameters (not tensor by
tensor, which biases EDEN on short tensors: docs/compression.md, "Buckets"), averaged through
:class:`~spotlab.tasks.distributed.collective.CompressedMean` over :class:`HorovodCollective` (allreduce for
allreduce-compatible compressors, an allgather of byte frames for the others) just before the optimizer applies
them (:func:`average_before_step`): the train loop's own step runs unchanged, SAM-family optimizers included.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.futures import Future
from torch.nn.utils import parameters_to_vector

from spotlab.tasks.distributed.collective import Collective, CompressedMean, completed, copy_back, flat_by_dtype


class HorovodCollective(Collective):
    def __init__(self):
        import horovod.torch as hvd

        hvd.init()
        self.hvd = hvd
        self.rank, self.world = hvd.rank(), hvd.size()
        self.bytes_sent = 0
        self.calls = 0  # Horovod names every collective; names must be unique among those in flight

    def close(self) -> None:
        self.hvd.shutdown()

    def start_sum(self, tensors: list[torch.Tensor]) -> Future[None]:
        for i, (group, flat) in enumerate(flat_by_dtype(tensors)):
            self.calls += 1
            self.hvd.allreduce_(flat, op=self.hvd.Sum, name=f"spotlab.sum.{self.calls}.{i}")
            self.bytes_sent += flat.numel() * flat.element_size()
            copy_back(group, flat)
        return completed(None)

    def start_gather_bytes(self, frame: torch.Tensor) -> Future[list[torch.Tensor]]:
        """Horovod's allgather takes frames of different lengths; the lengths are gathered first to split them."""
        self.calls += 1
        size = torch.tensor([frame.numel()], dtype=torch.int64)
        sizes = self.hvd.allgather(size, name=f"spotlab.sizes.{self.calls}")
        frames = self.hvd.allgather(frame, name=f"spotlab.gather.{self.calls}")
        self.bytes_sent += size.numel() * size.element_size() + frame.numel()
        return completed(list(frames.split(sizes.tolist())))


class FusedGradientMean:
    """A step pre-hook of the optimizer that applies the gradient (the base optimizer of a SAM-family one): just
    before it steps, every gradient is replaced by the compressed mean of ONE fused flat buffer of all of them.
    Under SAM the ascent gradient therefore stays local (the first backward is never exchanged) and only the
    final gradient is averaged, as DDP's ``no_sync`` does on the torch backend. ``calls`` seeds each exchange (the
    same on every rank).

    A step pre-hook runs before ``step`` calls its closure, so a closure passed to ``step`` (the train loop's, for
    single-pass optimizers) is run here first, and ``step`` gets one that returns its loss."""

    def __init__(self, exchange: CompressedMean):
        self.exchange = exchange
        self.calls = 0

    def __call__(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        closure = kwargs.get("closure", args[1] if len(args) > 1 else None)  # args[0] is the optimizer
        with torch.enable_grad():
            loss = closure() if closure is not None else None
        with torch.no_grad():
            params = [p for group in optimizer.param_groups for p in group["params"]]
            fused = parameters_to_vector([p.grad if p.grad is not None else torch.zeros_like(p) for p in params])
            (mean,) = self.exchange.mean([fused], self.calls).wait()
            self.calls += 1
            for p, part in zip(params, mean.split([p.numel() for p in params])):
                p.grad = part.view_as(p)
        return None if closure is None else ((optimizer,), {"closure": lambda: loss})


def average_before_step(optimizer: torch.optim.Optimizer, exchange: CompressedMean) -> FusedGradientMean:
    """Register :class:`FusedGradientMean` on the optimizer that applies the gradient: a SAM-family optimizer's
    ``base_optimizer`` (its ascent step needs no exchange), otherwise ``optimizer`` itself."""
    hook = FusedGradientMean(exchange)
    getattr(optimizer, "base_optimizer", optimizer).register_step_pre_hook(hook)
    return hook


def broadcast_parameters(model: nn.Module, collective: HorovodCollective) -> None:
    """Every worker starts from rank 0's weights (they already agree by seed; this makes it independent of that)."""
    collective.hvd.broadcast_parameters(model.state_dict(), root_rank=0)
