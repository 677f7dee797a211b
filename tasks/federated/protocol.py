"""What travels in one round: the job a client receives and the upload it returns, with its exact wire size.

Every uploaded tensor is a :class:`~spotlab.tasks.compress.base.Payload` of the compress family: compressed parts
carry what their compressor puts on the wire, exact parts carry the tensor itself in its own dtype. Upload bytes
are therefore ``Payload.wire_bytes`` summed, the same accounting the compression benchmarks use.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from spotlab.tasks.compress.base import Payload


@dataclass(frozen=True)
class ClientJob:
    """Round ``round`` for client ``client``: its local data and the global model it received (read-only: a
    client update works on its own copy, so one round's jobs can run concurrently)."""

    round: int
    client: int
    x: torch.Tensor
    y: torch.Tensor
    model: nn.Module
    seed: int  # the run seed; per-client and per-round streams derive from it


@dataclass
class Upload:
    client: int
    parts: dict[str, Payload]

    def wire_bytes(self) -> int:
        return sum(p.wire_bytes() for p in self.parts.values())


def exact(tensor: torch.Tensor) -> Payload:
    """A tensor sent as it is (its dtype and every element on the wire)."""
    return Payload(tensors=[tensor.detach()], numel=tensor.numel())


def model_bytes(model: nn.Module) -> int:
    """Download size of the global model: every parameter in its dtype (buffers such as the input
    normalisation never change and are sent once, with the architecture)."""
    return sum(p.numel() * p.element_size() for p in model.parameters())
