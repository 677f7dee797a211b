"""Pruning masks as weight parametrizations: ``weight = original ⊙ mask`` with the mask a persistent buffer.

A masked layer keeps its trainable tensor as ``parametrizations.weight.original`` and its 0/1 mask as
``parametrizations.weight.0.mask``, so masks travel in ``state_dict`` and checkpoints, and every read of
``module.weight`` (forward passes included) sees exactly zero at pruned coordinates whatever the optimizer does to
``original`` (momentum and weight decay included). :func:`bake` turns a masked model back into a plain one.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import parametrize

Masks = dict[str, torch.Tensor]  # layer name (as in model.named_modules()) → bool tensor shaped like its weight


class WeightMask(nn.Module):
    """The parametrization ``w ↦ w ⊙ mask``."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.to(torch.float32))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask


def weight_mask(module: nn.Module) -> WeightMask | None:
    """The pruning mask parametrizing ``module.weight``, if any (other parametrizations are not masks)."""
    if not parametrize.is_parametrized(module, "weight"):
        return None
    return next((p for p in module.parametrizations.weight if isinstance(p, WeightMask)), None)


def prunable_layers(model: nn.Module, exclude_output: bool = True) -> dict[str, nn.Module]:
    """Linear and Conv2d layers in forward order; the last Linear (the output layer) left out when asked."""
    layers = {name: m for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}
    if exclude_output:
        linear = [name for name, m in layers.items() if isinstance(m, nn.Linear)]
        if linear:
            del layers[linear[-1]]
    if not layers:
        raise ValueError("the model has no prunable (Linear or Conv2d) layer")
    return layers


def _validated(name: str, module: nn.Module, mask: torch.Tensor) -> torch.Tensor:
    weight = module.weight
    if mask.shape != weight.shape:
        raise ValueError(f"mask for {name!r} has shape {tuple(mask.shape)}, its weight {tuple(weight.shape)}")
    if mask.dtype != torch.bool and not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(f"mask for {name!r} has values other than 0 and 1")
    return mask.to(torch.bool)


def apply_masks(model: nn.Module, masks: Masks) -> nn.Module:
    """Mask ``model``'s layers in place (replacing masks already there); returns the model."""
    modules = dict(model.named_modules())
    unknown = sorted(set(masks) - set(modules))
    if unknown:
        raise ValueError(f"masks name layers {unknown} that the model does not have")
    for name, mask in masks.items():
        module = modules[name]
        mask = _validated(name, module, mask)
        existing = weight_mask(module)
        if existing is not None:
            existing.mask.copy_(mask)
        else:
            parametrize.register_parametrization(module, "weight", WeightMask(mask))
    return model


def current_masks(model: nn.Module) -> Masks:
    """The masks applied to ``model`` (empty when none)."""
    masks = {name: weight_mask(m) for name, m in model.named_modules()}
    return {name: p.mask.to(torch.bool).clone() for name, p in masks.items() if p is not None}


def dense_masks(model: nn.Module, exclude_output: bool = True) -> Masks:
    return {name: torch.ones_like(m.weight, dtype=torch.bool) for name, m in prunable_layers(model, exclude_output).items()}


def bake(model: nn.Module) -> nn.Module:
    """A plain copy of ``model`` whose weights are the masked ones (zeros at pruned coordinates), without masks."""
    plain = copy.deepcopy(model)
    for module in plain.modules():
        if parametrize.is_parametrized(module, "weight"):
            # Not parametrize.remove_parametrizations: deep copies share the injected Parametrized* class, and
            # removing deletes the ``weight`` property from that class, which would break the original model.
            weight = module.weight.detach().clone()
            module.__class__ = parametrize.type_before_parametrizations(module)
            del module.parametrizations
            module.weight = nn.Parameter(weight)
    return plain


def sparsity_report(masks: Masks) -> dict:
    """Per layer and overall: weights, kept weights and sparsity (fraction pruned)."""
    layers = {
        name: {"weights": mask.numel(), "kept": int(mask.sum()), "sparsity": 1 - int(mask.sum()) / mask.numel()}
        for name, mask in masks.items()
    }
    total = sum(layer["weights"] for layer in layers.values())
    kept = sum(layer["kept"] for layer in layers.values())
    return {"weights": total, "kept": kept, "sparsity": 1 - kept / total if total else 0.0, "layers": layers}
