"""PAC-Net (Myung et al., ICML 2022): Prune, Allocate, Calibrate — transfer without forgetting the source.

1. Prune: keep the ``keep`` fraction of largest-|w| weights of the trained source network (mask m).
2. Allocate: retrain on the source with only the kept weights (m as a weight parametrization: pruned ones stay 0).
3. Calibrate: on the few-shot target, train only the pruned coordinates, w = m ⊙ w_alloc + (1 − m) ⊙ v, with
   loss L_target(w) + λ‖w − w_alloc‖² (w_alloc is 0 off the mask, so the pull shrinks v toward 0).
The source network is recovered exactly as m ⊙ w (zero forgetting).

Our choices where the paper is silent: every Linear/Conv2d weight is pruned (the output head included, so its pruned
coordinates are free to fit the target; source and target share the head's shape); biases and the input
normalisation belong to the source and stay frozen during calibration, so m ⊙ w with the same biases is the source
network; BatchNorm layers are refused because their running statistics would drift on the target.
Baselines: fine-tuning (all parameters) and L2-SP (fine-tuning with α‖w − w_source‖² on every parameter).
"""

from __future__ import annotations

import copy
from typing import ClassVar, Iterator, Literal

import torch
from pydantic import Field
from torch import nn
from torch.nn.utils import parametrize

from spotlab.models.config import ConfigModel
from spotlab.tasks.prune.masks import Masks, apply_masks, bake, dense_masks
from spotlab.tasks.prune.selection import Scope, magnitude_scores, prune_lowest
from spotlab.tasks.prune.training import PruneData, RetrainConfig


class CalibrationMask(nn.Module):
    """The parametrization ``v ↦ m ⊙ w_alloc + (1 − m) ⊙ v``: the kept (source) coordinates are constants."""

    def __init__(self, mask: torch.Tensor, allocated: torch.Tensor):
        super().__init__()
        self.register_buffer("free", (~mask).to(torch.float32))
        self.register_buffer("kept", allocated * mask)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return self.kept + self.free * weight


def _check_no_batchnorm(model: nn.Module) -> None:
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ValueError("pac-net does not support BatchNorm layers (their running statistics would change on the "
                         "target); use a model without them (mlp, cnn-small)")


def keep_largest(model: nn.Module, keep: float, scope: Scope, exclude_output: bool) -> Masks:
    """Prune: masks keeping the ``keep`` fraction of largest-|w| weights."""
    dense = dense_masks(model, exclude_output)
    return prune_lowest(magnitude_scores(model, dense), dense, 1 - keep, scope)


def calibration_model(allocated: nn.Module, masks: Masks) -> nn.Module:
    """The allocated (plain, baked) network set up for calibration: only the pruned coordinates train, from 0."""
    _check_no_batchnorm(allocated)
    model = copy.deepcopy(allocated)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    modules = dict(model.named_modules())
    for name, mask in masks.items():
        module = modules[name]
        weight = module.weight.detach().clone()
        module.weight.data.mul_(mask.to(weight.dtype))  # the free coordinates start at w_alloc = 0
        module.weight.requires_grad_(True)
        parametrize.register_parametrization(module, "weight", CalibrationMask(mask, weight))
    return model


def calibration_penalty(lam: float):
    """λ‖w − w_alloc‖² summed over the calibrated layers: only the free part (1 − m) ⊙ v differs from w_alloc."""

    def penalty(model: nn.Module) -> torch.Tensor:
        terms = [
            (m.parametrizations.weight[0].free * m.parametrizations.weight.original).pow(2).sum()
            for m in model.modules()
            if parametrize.is_parametrized(m, "weight")
        ]
        return lam * torch.stack(terms).sum()

    return penalty


def recover_source(calibrated: nn.Module) -> nn.Module:
    """m ⊙ w: the source network inside a calibrated one (plain module, free coordinates zeroed)."""
    source = copy.deepcopy(calibrated)
    for module in source.modules():
        if parametrize.is_parametrized(module, "weight"):
            module.parametrizations.weight.original.data.zero_()
    return bake(source)


def l2_sp_penalty(source: nn.Module, alpha: float):
    """L2-SP: α‖w − w_source‖² over every parameter (α = 0 is plain fine-tuning)."""
    reference = [p.detach().clone() for p in source.parameters()]

    def penalty(model: nn.Module) -> torch.Tensor:
        return alpha * torch.stack([(p - r).pow(2).sum() for p, r in zip(model.parameters(), reference)]).sum()

    return penalty


class PACNetConfig(ConfigModel):
    """PAC-Net's source half on the pipeline's data: prune, then allocate (calibration needs a target task)."""

    kind: Literal["pac-net"] = "pac-net"
    keep: float = Field(0.2, gt=0, lt=1, description="Fraction of source weights kept (the rest are freed).")
    scope: Scope = Field("layer", description="Rank weights per layer (every layer keeps capacity) or globally.")
    exclude_output: bool = Field(False, description="Leave the output layer out of the mask (dense, frozen).")
    calibration_lambda: float = Field(0.01, ge=0, description="λ of the pull toward the allocated weights.")
    training: RetrainConfig = Field(default_factory=RetrainConfig, description="Allocate's training on the source.")

    from_init: ClassVar[bool] = False  # prunes the trained source network it is given

    def prune(self, model: nn.Module, data: PruneData, seed: int) -> Iterator[nn.Module]:
        """Level 0: the trained source; level 1: pruned and allocated on ``data`` (the source task)."""
        _check_no_batchnorm(model)
        model = apply_masks(copy.deepcopy(model), dense_masks(model, self.exclude_output))
        yield model
        apply_masks(model, keep_largest(model, self.keep, self.scope, self.exclude_output))
        data.train(model, self.training, seed)
        yield model

    def calibrate(
        self, allocated: nn.Module, masks: Masks, target: PruneData, training: RetrainConfig, seed: int
    ) -> nn.Module:
        """Calibrate: fit the freed coordinates of the allocated network to the few-shot ``target``."""
        model = calibration_model(allocated, masks)
        target.train(model, training, seed, penalty=calibration_penalty(self.calibration_lambda))
        return model
