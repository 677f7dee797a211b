"""FedAvg (McMahan et al., 2017): each sampled client runs a few epochs of local SGD from the global weights and
uploads its weight change; the server adds the average change weighted by the clients' example counts.

Local training is the project's training step (tasks/train/loop.py ``train_step``) over the same seeded batch
order ``shuffled_batches`` gives centralised training: client m's epoch e of round r is epoch r·E + e of its own
stream (seeded by the run seed and m), so one client with full participation retraces centralised SGD exactly.
The optimizer (and so any momentum) starts afresh every round, as in the paper.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.compress.base import derive_seed
from spotlab.tasks.compress.basic import NoCompressionConfig
from spotlab.tasks.compress.config import CompressorConfig
from spotlab.tasks.federated.jacobians import flat_parameters
from spotlab.tasks.federated.protocol import ClientJob, Upload, exact
from spotlab.tasks.train.loop import shuffled_batches, train_step
from spotlab.tasks.train.objectives import ERMConfig
from spotlab.tasks.train.optimizers import OptimizerConfig, SGDConfig


def client_stream(seed: int, client: int) -> int:
    """The seed of client ``client``'s batch order (31 bits: ``shuffled_batches`` scales it by 100,003)."""
    return derive_seed(seed, client) >> 32


class FedAvg:
    def __init__(self, cfg: FedAvgConfig):
        self.cfg = cfg
        self.compressor = cfg.compressor.build()
        self.objective = ERMConfig().build("classification", None)

    def client_update(self, job: ClientJob) -> Upload:
        cfg = self.cfg
        model = copy.deepcopy(job.model).train()
        start = flat_parameters(model)
        optimizer = cfg.optimizer.build(model.parameters())
        stream = client_stream(job.seed, job.client)
        for epoch in range(job.round * cfg.local_epochs, (job.round + 1) * cfg.local_epochs):
            for index in shuffled_batches(len(job.x), cfg.batch_size, stream, epoch):
                train_step(model, optimizer, self.objective, job.x[index], job.y[index])
        delta = self.compressor.compress(flat_parameters(model) - start, derive_seed(job.seed, job.round, job.client))
        return Upload(job.client, {"delta": delta, "examples": exact(torch.tensor([len(job.x)]))})

    def server_update(self, model, uploads: list[Upload], seed: int, round_index: int):
        """The new global weights: w + Σ_m n_m Δ_m / Σ_m n_m."""
        w = flat_parameters(model)
        counts = torch.tensor([float(u.parts["examples"].tensors[0]) for u in uploads])
        weights = (counts / counts.sum()).tolist()
        step = sum(a * self.compressor.decompress(u.parts["delta"]).to(w.device) for a, u in zip(weights, uploads))
        return w + step, {}


class FedAvgConfig(ConfigModel):
    kind: Literal["fedavg"] = "fedavg"
    local_epochs: int = Field(1, ge=1, description="Passes over its own data each sampled client makes per round.")
    batch_size: int = Field(10, ge=1, description="Local mini-batch size.")
    optimizer: OptimizerConfig = Field(
        default_factory=lambda: SGDConfig(lr=0.05, momentum=0.0, weight_decay=0.0),
        description="Local optimizer (by kind); rebuilt every round.",
    )
    compressor: CompressorConfig = Field(
        default_factory=NoCompressionConfig,
        description="Compressor (by kind, e.g. eden) applied to each uploaded weight change.",
    )

    def build(self) -> FedAvg:
        return FedAvg(self)
