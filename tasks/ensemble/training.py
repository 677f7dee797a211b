"""The ensemble recipe: M members built under one seed, stacked, and trained together by the training recipe's loop
(``tasks/train/recipes.fit_on_splits``)."""

from __future__ import annotations

import torch

from spotlab.models.ensemble import Ensemble
from spotlab.models.registry import build_model
from spotlab.tasks.ensemble.config import EnsembleTrainConfig
from spotlab.tasks.train.recipes import fit_on_splits


def build_ensemble(cfg: EnsembleTrainConfig, method, info, seed: int) -> Ensemble:
    torch.manual_seed(seed)
    models = [build_model(cfg.model, info.input_shape, info.num_outputs, info.mean, info.std)
              for _ in range(cfg.members)]
    return Ensemble(models, shared_head=method.shared_head)


def train_ensemble(cfg: EnsembleTrainConfig, method, splits, info, seed: int) -> Ensemble:
    """``method`` (a config of ``ENSEMBLE_METHODS``) trained from scratch under ``seed``, in eval mode."""
    if info.task != "classification":
        raise ValueError(f"ensemble methods train classifiers; the dataset's task is {info.task!r}")
    ensemble = build_ensemble(cfg, method, info, seed)
    fit_on_splits(ensemble, cfg.optimizer.build(ensemble.parameters()), method.build(), cfg, splits, info, seed)
    return ensemble.eval()
