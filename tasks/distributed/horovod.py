"""The Horovod backend: horovod.torch's collectives under the same compressed mean as the torch backend.

Horovod is optional (``make horovod`` builds it); this module imports it only when the horovod backend runs. Without
error feedback, each step's gradients are compressed as ONE flat fused buffer of all parameters (not tensor by
tensor, which biases EDEN on short tensors: docs/compression.md, "Buckets"), averaged through
:class:`~spotlab.tasks.distributed.collective.CompressedMean` over :class:`HorovodCollective` (allreduce for
allreduce-compatible compressors, an allgather of byte frames for the others), and the plain optimizer steps on the
mean. Combinations this path cannot run are rejected by the config (``check_backend_optimizer``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parameters_to_vector

from spotlab.tasks.distributed.collective import Collective, CompressedMean, copy_back, flat_by_dtype
from spotlab.tasks.train.objectives import Objective


class HorovodCollective(Collective):
    def __init__(self):
        import horovod.torch as hvd

        hvd.init()
        self.hvd = hvd
        self.rank, self.world = hvd.rank(), hvd.size()
        self.bytes_sent = 0
        self.calls = 0  # Horovod names every collective; names must be unique among those in flight

    def sum_(self, tensors: list[torch.Tensor]) -> None:
        for i, (group, flat) in enumerate(flat_by_dtype(tensors)):
            self.calls += 1
            self.hvd.allreduce_(flat, op=self.hvd.Sum, name=f"spotlab.sum.{self.calls}.{i}")
            self.bytes_sent += flat.numel() * flat.element_size()
            copy_back(group, flat)

    def gather_bytes(self, frame: torch.Tensor) -> list[torch.Tensor]:
        """Horovod's allgather takes frames of different lengths; the lengths are gathered first to split them."""
        self.calls += 1
        size = torch.tensor([frame.numel()], dtype=torch.int64)
        sizes = self.hvd.allgather(size, name=f"spotlab.sizes.{self.calls}")
        frames = self.hvd.allgather(frame, name=f"spotlab.gather.{self.calls}")
        self.bytes_sent += size.numel() * size.element_size() + frame.numel()
        return list(frames.split(sizes.tolist()))


class FusedGradientMean:
    """The local step of the horovod backend without error feedback: backward, the compressed mean of the fused
    flat gradient, then the plain optimizer's step. ``calls`` seeds each exchange (the same on every rank)."""

    def __init__(self, exchange: CompressedMean):
        self.exchange = exchange
        self.calls = 0

    def __call__(self, model: nn.Module, optimizer: torch.optim.Optimizer, objective: Objective, x, y) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = objective(model, x, y)
        loss.backward()
        params = list(model.parameters())
        fused = parameters_to_vector([p.grad if p.grad is not None else torch.zeros_like(p) for p in params])
        _, (mean,) = self.exchange([fused], self.calls)
        self.calls += 1
        for p, part in zip(params, mean.split([p.numel() for p in params])):
            p.grad = part.view_as(p)
        optimizer.step()
        return loss


def broadcast_parameters(model: nn.Module, collective: HorovodCollective) -> None:
    """Every worker starts from rank 0's weights (they already agree by seed; this makes it independent of that)."""
    collective.hvd.broadcast_parameters(model.state_dict(), root_rank=0)
