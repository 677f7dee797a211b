"""One worker's side of data-parallel training, shared by the worker entry point, the study and the tests.

Every worker builds the same model from the same seed, trains on its contiguous shard of each global batch (the
batch the single-process path would use) and takes part in the averaging; the result equals single-process
training on the global batch when nothing is compressed. Shards may differ in size by one; each shard's loss is
weighted by K·n_k/N so that the average over workers is the global batch's mean loss.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from spotlab.tasks.distributed.collective import Collective, CompressedMean
from spotlab.tasks.distributed.config import DistributedConfig
from spotlab.tasks.distributed.feedback import ErrorFeedback
from spotlab.tasks.distributed.hooks import powersgd_wire_bytes, register_compressed_mean, register_powersgd
from spotlab.tasks.train.loop import train_step
from spotlab.tasks.train.objectives import Objective


class DataParallel:
    def __init__(self, config: DistributedConfig, collective: Collective, seed: int):
        self.config = config
        self.collective = collective
        self.seed = seed
        self.exchange = CompressedMean(config.compressor.build(worker=collective.rank), collective, seed)
        self.steps = 0
        self.fp32_bytes_per_step = 0
        self.fixed_bytes_per_step: int | None = None  # set where the wire is not metered by the exchange

    @property
    def rank(self) -> int:
        return self.collective.rank

    @property
    def world(self) -> int:
        return self.collective.world

    def setup(self, model: nn.Module, optimizer_config) -> tuple[nn.Module, torch.optim.Optimizer]:
        """(module to train, optimizer): the feedback optimizer, Horovod's, or DDP with the compression hook."""
        params = list(model.parameters())
        self.fp32_bytes_per_step = 4 * sum(p.numel() for p in params)
        feedback, compressor = self.config.feedback, self.config.compressor
        if feedback.kind != "none":
            return model, feedback.build(params, optimizer_config, self.exchange)
        if self.config.backend == "horovod":
            from spotlab.tasks.distributed.horovod import average_before_step, broadcast_parameters

            broadcast_parameters(model, self.collective)
            optimizer = optimizer_config.build(model.named_parameters())
            average_before_step(optimizer, self.exchange)
            return model, optimizer
        ddp = DistributedDataParallel(model)
        if compressor.kind == "powersgd":
            register_powersgd(ddp, compressor.rank, self.seed)
            self.fixed_bytes_per_step = powersgd_wire_bytes(model, compressor.rank)
        elif compressor.kind == "none":
            self.fixed_bytes_per_step = self.fp32_bytes_per_step  # DDP's own fp32 allreduce
        else:
            register_compressed_mean(ddp, self.exchange)
        return ddp, optimizer_config.build(ddp.named_parameters())

    def step(self, model: nn.Module, optimizer: torch.optim.Optimizer, objective: Objective, x, y) -> torch.Tensor:
        """Train on this worker's shard of the global batch ``(x, y)``; returns the shard's mean loss."""
        shard = torch.tensor_split(torch.arange(len(x), device=x.device), self.world)[self.rank]
        weight = self.world * len(shard) / len(x)

        def weighted(module: nn.Module, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
            if len(xs) == 0:  # a last batch smaller than the world: take part in the averaging with zero gradients
                return sum((p * 0).sum() for p in module.parameters())
            return objective(module, xs, ys) * weight

        loss = train_step(model, optimizer, weighted, x[shard], y[shard])
        self.steps += 1
        return loss.detach() / weight if weight else loss.detach()

    def evaluation_point(self, optimizer: torch.optim.Optimizer) -> contextlib.AbstractContextManager:
        """Where the model is evaluated and saved: x − mean error for DEF, the parameters otherwise."""
        return optimizer.evaluation_point() if isinstance(optimizer, ErrorFeedback) else contextlib.nullcontext()

    def gather_optimizer_states(self, optimizer: torch.optim.Optimizer) -> list[dict]:
        """Every worker's optimizer state (EF/DEF errors differ per worker), for rank 0's checkpoint."""
        return self.collective.gather(optimizer.state_dict())

    def own_optimizer_state(self, states: list[dict]) -> dict:
        if len(states) != self.world:
            raise ValueError(f"checkpoint holds {len(states)} workers' optimizer states; this run has {self.world}")
        return states[self.rank]

    def communication(self) -> dict[str, float]:
        """Bytes one worker put on the wire per step, and the fp32 gradient size they replace."""
        sent = self.fixed_bytes_per_step
        if sent is None:
            sent = self.exchange.bytes_sent / max(self.steps, 1)
        return {
            "bytes_per_step": float(sent),
            "fp32_bytes_per_step": float(self.fp32_bytes_per_step),
            "compression_ratio": self.fp32_bytes_per_step / sent if sent else float("inf"),
        }
