"""The Horovod backend: horovod.torch's collectives and DistributedOptimizer over the same compressors.

Horovod is optional (``make horovod`` builds it); this module imports it only when the horovod backend runs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from spotlab.tasks.compress.base import Payload
from spotlab.tasks.distributed.collective import Collective, CompressedMean, step_seed
from spotlab.tasks.train.objectives import Objective


class HorovodCollective(Collective):
    def __init__(self):
        import horovod.torch as hvd

        hvd.init()
        self.hvd = hvd
        self.rank, self.world = hvd.rank(), hvd.size()
        self.calls = 0  # Horovod names every collective; names must be unique among those in flight

    def sum_(self, tensors: list[torch.Tensor]) -> None:
        self.calls += 1
        handles = [
            self.hvd.allreduce_async_(t, op=self.hvd.Sum, name=f"spotlab.sum.{self.calls}.{i}")
            for i, t in enumerate(tensors)
        ]
        for handle in handles:
            self.hvd.synchronize(handle)

    def gather(self, value: Any) -> list[Any]:
        self.calls += 1
        return self.hvd.allgather_object(value, name=f"spotlab.gather.{self.calls}")


class HorovodCompression:
    """Horovod's compression API (``compress(tensor) -> (wire, ctx)``, ``decompress(wire, ctx)``) over one of our
    compressors. Horovod averages the wire tensor, so only allreduce-compatible compressors with a single wire
    tensor fit; the call counter seeds them, in the gradient-hook order that every rank shares."""

    def __init__(self, exchange: CompressedMean):
        if not exchange.compressor.allreduce_compatible:
            raise ValueError(
                "backend 'horovod' averages one wire tensor per gradient: use an allreduce-compatible compressor "
                "(none, fp16, random-block, random-k) or backend 'torch' (which gathers the others)"
            )
        self.exchange = exchange
        self.calls = 0

    def compress(self, tensor: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        payload = self.exchange.compressor.compress(tensor.reshape(-1), step_seed(self.exchange.seed, self.calls, 0))
        self.calls += 1
        if len(payload.tensors) != 1:
            raise ValueError(f"{type(self.exchange.compressor).__name__} sends {len(payload.tensors)} tensors")
        self.exchange.bytes_sent += payload.wire_bytes()
        return payload.tensors[0], (payload.numel, payload.meta, tensor.shape, tensor.dtype)

    def decompress(self, wire: torch.Tensor, context: tuple) -> torch.Tensor:
        numel, meta, shape, dtype = context
        return self.exchange.compressor.decompress(Payload([wire], numel, meta)).view(shape).to(dtype)


def distributed_optimizer(model: nn.Module, optimizer: torch.optim.Optimizer, exchange: CompressedMean):
    import horovod.torch as hvd

    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    return hvd.DistributedOptimizer(
        optimizer, named_parameters=model.named_parameters(), compression=HorovodCompression(exchange)
    )


def backward_then_step(model: nn.Module, optimizer: torch.optim.Optimizer, objective: Objective, x, y) -> torch.Tensor:
    """Horovod's optimizer synchronises gradients before running a closure, so it must step without one."""
    optimizer.zero_grad()  # Horovod's zero_grad takes no arguments
    loss = objective(model, x, y)
    loss.backward()
    optimizer.step()
    return loss
