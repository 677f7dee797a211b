"""Training recipes shared by the studies: a config trained from scratch on prepared splits, and its score."""

from __future__ import annotations

import torch
from torch import nn

from spotlab.models.registry import build_model
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.loop import evaluate_split, fit
from spotlab.tasks.train.objectives import build_objective
from spotlab.tasks.train.schedules import build_scheduler


def train_model(cfg: TrainConfig, splits, info, seed: int) -> nn.Module:
    """``cfg`` trained from scratch under ``seed`` on the train split (validation split as given), in eval mode."""
    torch.manual_seed(seed)
    model = build_model(cfg.model, info.input_shape, info.num_outputs, info.mean, info.std)
    optimizer = cfg.optimizer.build(model.named_parameters())  # named: ASAM scales weights only
    objective = build_objective(cfg.objective, info.task, info.bounds, torch.as_tensor(splits.y_train))
    fit_on_splits(model, optimizer, objective, cfg, splits, info, seed)
    return model.eval()


def fit_on_splits(model: nn.Module, optimizer, objective, cfg, splits, info, seed: int) -> None:
    """The recipe's loop: ``cfg.epochs`` of ``cfg.batch_size`` batches on the train split under ``cfg.schedule``,
    validating on the val split (``cfg`` is any training config with those three fields)."""
    fit(
        model,
        optimizer,
        build_scheduler(cfg.schedule, optimizer, cfg.epochs),
        objective,
        (torch.as_tensor(splits.x_train), torch.as_tensor(splits.y_train)),
        (torch.as_tensor(splits.x_val), torch.as_tensor(splits.y_val)),
        task=info.task,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        seed=seed,
    )


def test_accuracy(model: nn.Module, splits, info) -> float:
    _, accuracy = evaluate_split(model, torch.as_tensor(splits.x_test), torch.as_tensor(splits.y_test), info.task)
    return accuracy
