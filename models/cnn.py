"""A small VGG-style CNN for 8×8 to 32×32 inputs: conv-ReLU-pool blocks, global average pooling, linear head."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt
from torch import nn

from spotlab.models.config import ConfigModel


class CNNSmallConfig(ConfigModel):
    kind: Literal["cnn-small"] = "cnn-small"
    channels: list[PositiveInt] = Field([32, 64], min_length=1, description="Output channels of each 3×3 conv block.")
    hidden: int = Field(128, ge=1, description="Width of the hidden linear layer after pooling.")

    def build(self, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
        if len(input_shape) != 3:
            raise ValueError(f"cnn-small needs image inputs (C, H, W); the dataset gives shape {input_shape}")
        layers: list[nn.Module] = []
        in_channels, size = input_shape[0], min(input_shape[1:])
        for out_channels in self.channels:
            layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU()]
            # Pool only while the feature map is large enough to keep spatial structure.
            if size >= 4:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            in_channels = out_channels
        layers += [
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(in_channels, self.hidden),
            nn.ReLU(),
            nn.Linear(self.hidden, num_outputs),
        ]
        return nn.Sequential(*layers)
