"""The model registry: ``kind`` → config class. Every config builds its network; :func:`build_model` adds the
dataset's normalisation as the first layer so that attacks and analyses work in raw input space."""

from __future__ import annotations

from collections import OrderedDict
from typing import Annotated, Sequence, Union

import torch
from pydantic import Field
from torch import nn

from spotlab.models.cnn import CNNSmallConfig
from spotlab.models.mlp import MLPConfig
from spotlab.models.resnet import ResNet18Config

MODELS = {cfg.model_fields["kind"].default: cfg for cfg in (MLPConfig, CNNSmallConfig, ResNet18Config)}

ModelConfig = Annotated[Union[tuple(MODELS.values())], Field(discriminator="kind")]


class Normalize(nn.Module):
    """(x − mean) / std with statistics of the training split, stored as buffers so checkpoints carry them."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], input_shape: Sequence[int]):
        super().__init__()
        # Per-channel statistics for images (C, 1, 1), per-feature for vectors.
        stat_shape = (len(mean),) + (1,) * (len(input_shape) - 1) if len(input_shape) == 3 else (len(mean),)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(stat_shape))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(stat_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def build_model(config, input_shape: Sequence[int], num_outputs: int, mean=None, std=None) -> nn.Sequential:
    """``normalize`` (when statistics are given) followed by ``net``, the configured network."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if mean is not None and std is not None:
        layers["normalize"] = Normalize(mean, std, input_shape)
    layers["net"] = config.build(tuple(input_shape), num_outputs)
    return nn.Sequential(layers)


def model_to_bytes(model: nn.Sequential, config, input_shape: Sequence[int], num_outputs: int) -> bytes:
    """A self-describing model file: weights plus the config and shapes needed to rebuild the network."""
    import io

    buffer = io.BytesIO()
    torch.save(
        {
            "model_config": config.model_dump(mode="json"),
            "input_shape": list(input_shape),
            "num_outputs": num_outputs,
            "normalized": "normalize" in dict(model.named_children()),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        },
        buffer,
    )
    return buffer.getvalue()


def model_from_bytes(data: bytes) -> nn.Sequential:
    """Inverse of :func:`model_to_bytes` (``weights_only`` loading: no code runs from the file)."""
    import io

    from pydantic import TypeAdapter

    payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    config = TypeAdapter(ModelConfig).validate_python(payload["model_config"])
    state = payload["state_dict"]
    shape = payload["input_shape"]
    if payload["normalized"]:
        channels = state["normalize.mean"].numel()
        model = build_model(config, shape, payload["num_outputs"], [0.0] * channels, [1.0] * channels)
    else:
        model = build_model(config, shape, payload["num_outputs"])
    model.load_state_dict(state)
    return model
