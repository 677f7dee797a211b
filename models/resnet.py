"""torchvision's ResNet-18 adapted to small inputs (3×3 stem, no max-pool), as is usual for CIFAR-sized images."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from torch import nn


class ResNet18Config(BaseModel, frozen=True, extra="forbid"):
    kind: Literal["resnet18"] = "resnet18"
    width: int = Field(64, ge=4, description="Channels of the first stage (torchvision's default is 64).")

    def build(self, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
        from torchvision.models import resnet18
        from torchvision.models.resnet import BasicBlock, ResNet

        if len(input_shape) != 3:
            raise ValueError(f"resnet18 needs image inputs (C, H, W); the dataset gives shape {input_shape}")
        if self.width == 64:
            net = resnet18(weights=None, num_classes=num_outputs)
        else:
            net = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_outputs, width_per_group=self.width)
        net.conv1 = nn.Conv2d(input_shape[0], net.conv1.out_channels, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        return net
