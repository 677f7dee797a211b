"""Pruning strategies (registry keyed by ``kind``). Each config's ``prune(model, data, seed)`` yields the masked
network after every pruning level (level 0 first); the caller scores and analyses each one.

One-shot strategies (global-magnitude, layer-magnitude, random) prune the given trained network once, without
retraining. Iterative ones (imp, ramanujan-imp) take the network at initialisation: train, prune a fraction of the
surviving weights, rewind the survivors to their values at epoch ``rewind_epoch`` (0 = initialisation) and retrain,
for ``levels`` levels (Frankle et al.; OpenLTH). PAC-Net's source half (prune, allocate) lives in pacnet.py.
"""

from __future__ import annotations

import copy
from typing import ClassVar, Iterator, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from spotlab.models.config import ConfigModel
from spotlab.tasks.prune.masks import Masks, apply_masks, dense_masks
from spotlab.tasks.prune.selection import Scope, magnitude_scores, prune_lowest, random_scores
from spotlab.tasks.prune.spectra import ramanujan_gap
from spotlab.tasks.prune.training import PruneData, RetrainConfig

_EXCLUDE_OUTPUT = Field(True, description="Leave the output (last Linear) layer dense, as OpenLTH does.")


class _OneShot(ConfigModel):
    sparsity: float = Field(0.8, ge=0, lt=1, description="Fraction of the prunable weights removed.")
    exclude_output: bool = _EXCLUDE_OUTPUT

    from_init: ClassVar[bool] = False  # prunes the trained network it is given
    scope: ClassVar[Scope] = "global"

    def score_weights(self, model: nn.Module, masks: Masks, seed: int) -> dict[str, torch.Tensor]:
        return magnitude_scores(model, masks)

    def prune(self, model: nn.Module, data: PruneData, seed: int) -> Iterator[nn.Module]:
        model = apply_masks(copy.deepcopy(model), dense_masks(model, self.exclude_output))
        yield model
        dense = dense_masks(model, self.exclude_output)
        yield apply_masks(model, prune_lowest(self.score_weights(model, dense, seed), dense, self.sparsity, self.scope))


class GlobalMagnitudeConfig(_OneShot):
    """Remove the smallest-|w| weights over all prunable layers together."""

    kind: Literal["global-magnitude"] = "global-magnitude"


class LayerMagnitudeConfig(_OneShot):
    """Remove the smallest-|w| weights of each layer (every layer ends at the same sparsity)."""

    kind: Literal["layer-magnitude"] = "layer-magnitude"
    scope: ClassVar[Scope] = "layer"


class RandomConfig(_OneShot):
    """Remove weights uniformly at random (seeded by the run seed), each layer at the same sparsity."""

    kind: Literal["random"] = "random"
    scope: ClassVar[Scope] = "layer"

    def score_weights(self, model: nn.Module, masks: Masks, seed: int) -> dict[str, torch.Tensor]:
        return random_scores(masks, torch.Generator().manual_seed(seed))


class IMPConfig(ConfigModel):
    """Iterative magnitude pruning with rewinding (lottery tickets)."""

    kind: Literal["imp"] = "imp"
    levels: int = Field(8, ge=1, le=40, description="Pruning levels after the dense level 0.")
    fraction: float = Field(0.2, gt=0, lt=1, description="Fraction of the surviving weights pruned per level.")
    rewind_epoch: int = Field(0, ge=0, description="Rewind survivors to their values after this epoch (0 = init).")
    scope: Scope = Field("global", description="Rank weights over all prunable layers (global) or per layer.")
    scores: Literal["magnitude", "random"] = Field(
        "magnitude", description="Prune the smallest |w| (IMP) or at random (the random baseline)."
    )
    exclude_output: bool = _EXCLUDE_OUTPUT
    training: RetrainConfig = Field(default_factory=RetrainConfig, description="Training at every level.")

    from_init: ClassVar[bool] = True  # needs the network at initialisation to rewind to

    @model_validator(mode="after")
    def _rewind_within_training(self):
        if self.rewind_epoch > self.training.epochs:
            raise ValueError(f"rewind_epoch={self.rewind_epoch} exceeds training.epochs={self.training.epochs}")
        return self

    def next_masks(self, model: nn.Module, masks: Masks, generator: torch.Generator) -> Masks:
        scores = magnitude_scores(model, masks) if self.scores == "magnitude" else random_scores(masks, generator)
        return prune_lowest(scores, masks, self.fraction, self.scope)

    def prune(self, model: nn.Module, data: PruneData, seed: int) -> Iterator[nn.Module]:
        model = copy.deepcopy(model)
        masks = dense_masks(model, self.exclude_output)
        apply_masks(model, masks)
        snapshots = {0: copy.deepcopy(model.state_dict())}

        def keep_rewind_point(epoch: int, _history) -> None:
            if epoch == self.rewind_epoch:
                snapshots[epoch] = copy.deepcopy(model.state_dict())

        data.train(model, self.training, seed, on_epoch_end=keep_rewind_point)
        yield model
        generator = torch.Generator().manual_seed(seed)
        for _ in range(self.levels):
            masks = self.next_masks(model, masks, generator)
            model.load_state_dict(snapshots[self.rewind_epoch])  # rewinds every parameter (and the old masks) ...
            apply_masks(model, masks)  # ... so the new masks go on afterwards
            data.train(model, self.training, seed)
            yield model


class RamanujanIMPConfig(IMPConfig):
    """IMP that prunes a layer at a level only if its pruned mask keeps the Ramanujan property (Δr ≥ 0).

    Rule (ours; the paper's exact rule is unverified): take IMP's candidate masks for the level; a layer adopts its
    candidate only if the candidate is analysable (d̄ ≥ 3 on both sides) with Δr ≥ 0, otherwise it keeps its
    current mask for this level. A layer can resume pruning at a later level if retraining moves its candidate back
    above the bound.
    """

    kind: Literal["ramanujan-imp"] = "ramanujan-imp"

    def next_masks(self, model: nn.Module, masks: Masks, generator: torch.Generator) -> Masks:
        candidates = super().next_masks(model, masks, generator)
        return {name: candidate if _keeps_property(candidate) else masks[name] for name, candidate in candidates.items()}


def _keeps_property(mask: torch.Tensor) -> bool:
    gap = ramanujan_gap(mask.numpy())
    return gap is not None and gap >= 0
