"""torchvision's ResNet-18 adapted to small inputs (3×3 stem, no max-pool), as is usual for CIFAR-sized images."""

from __future__ import annotations

from typing import Literal

from torch import nn

from spotlab.models.config import ConfigModel


class ResNet18Config(ConfigModel):
    kind: Literal["resnet18"] = "resnet18"

    def build(self, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
        from torchvision.models import resnet18

        if len(input_shape) != 3:
            raise ValueError(f"resnet18 needs image inputs (C, H, W); the dataset gives shape {input_shape}")
        net = resnet18(weights=None, num_classes=num_outputs)
        net.conv1 = nn.Conv2d(input_shape[0], 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        return net
