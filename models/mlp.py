"""Fully connected ReLU network (flattens its input)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, PositiveInt
from torch import nn

from spotlab.models.config import ConfigModel


class MLPConfig(ConfigModel):
    kind: Literal["mlp"] = "mlp"
    hidden: list[PositiveInt] = Field(
        [128, 64], min_length=1, description="Width of each hidden layer, input to output."
    )
    bias: bool = Field(True, description="Give every linear layer a bias.")

    def build(self, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
        widths = [math.prod(input_shape), *self.hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(fan_in, fan_out, bias=self.bias), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], num_outputs, bias=self.bias))
        return nn.Sequential(*layers)
