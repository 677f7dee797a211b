"""The ensemble recipe: M members built under one seed, stacked, and trained together by ``tasks/train/loop.fit``."""

from __future__ import annotations

import torch

from spotlab.models.ensemble import Ensemble
from spotlab.models.registry import build_model
from spotlab.tasks.ensemble.config import EnsembleTrainConfig
from spotlab.tasks.train.loop import fit
from spotlab.tasks.train.schedules import build_scheduler


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
    optimizer = cfg.optimizer.build(ensemble.parameters())
    fit(
        ensemble,
        optimizer,
        build_scheduler(cfg.schedule, optimizer, cfg.epochs),
        method.build(),
        (torch.as_tensor(splits.x_train), torch.as_tensor(splits.y_train)),
        (torch.as_tensor(splits.x_val), torch.as_tensor(splits.y_val)),
        task=info.task,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        seed=seed,
    )
    return ensemble.eval()
