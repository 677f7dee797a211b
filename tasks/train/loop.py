"""The training recipe: (resume) → for each epoch: shuffle → steps → schedule → evaluate → checkpoint.

Plain torch. Repeatable bit for bit on CPU: shuffling uses a generator seeded by (seed, epoch), and the global RNG
state (used by dropout or random perturbations in objectives) is saved in every checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
from torch import nn

from spotlab.tasks.progress import advance
from spotlab.tasks.train.objectives import Objective, task_loss

log = logging.getLogger("spotlab.train")


@dataclass
class EpochMetrics:
    epoch: int
    lr: float
    train_loss: float
    train_accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    seconds: float


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Model outputs for ``x`` in eval mode, in batches, on the model's device; returned on the CPU."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    outputs = [model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(outputs)


def evaluate_split(model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: str) -> tuple[float, float | None]:
    """(mean loss, accuracy or None for regression) of ``model`` on one split."""
    out = predict(model, x)
    loss = float(task_loss(task)(out, y))
    accuracy = float((out.argmax(1) == y).float().mean()) if task == "classification" else None
    return loss, accuracy


def capture_rng() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def shuffled_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(n, generator=generator)
    return list(order.split(batch_size))


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, objective: Objective, x, y) -> torch.Tensor:
    """One step through ``optimizer.step(closure)``, so that two-pass optimizers (SAM family) work unchanged."""
    if hasattr(optimizer, "step_on_batch"):  # needs the model and batch (m-SAM sub-batches, BatchNorm, DDP)
        return optimizer.step_on_batch(model, objective, x, y)

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = objective(model, x, y)
        loss.backward()
        return loss

    return optimizer.step(closure)


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    objective: Objective,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    *,
    task: str,
    epochs: int,
    batch_size: int,
    seed: int,
    start_epoch: int = 0,
    history: list[EpochMetrics] | None = None,
    on_epoch_end: Callable[[int, list[EpochMetrics]], None] | None = None,
    step: Callable[..., torch.Tensor] = train_step,
    evaluate_at: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> list[EpochMetrics]:
    """Train from ``start_epoch`` to ``epochs``; ``on_epoch_end(epoch, history)`` runs after each epoch."""
    history = list(history or [])
    device = next(model.parameters()).device
    x_train, y_train = train
    for epoch in range(start_epoch, epochs):
        started = time.perf_counter()
        model.train()
        total, count, correct = 0.0, 0, 0
        for index in shuffled_batches(len(x_train), batch_size, seed, epoch):
            x, y = x_train[index].to(device), y_train[index].to(device)
            loss = step(model, optimizer, objective, x, y)
            total += float(loss.detach()) * len(index)
            count += len(index)
        scheduler.step()
        with evaluate_at():  # the point the optimizer says the model is at (DEF: x − mean error)
            train_loss, train_accuracy = evaluate_split(model, x_train, y_train, task)
            val_loss, val_accuracy = evaluate_split(model, *val, task) if len(val[0]) else (None, None)
        history.append(
            EpochMetrics(
                epoch=epoch + 1,
                lr=optimizer.param_groups[0]["lr"],
                train_loss=train_loss,
                train_accuracy=train_accuracy,
                val_loss=val_loss,
                val_accuracy=val_accuracy,
                seconds=time.perf_counter() - started,
            )
        )
        step_loss = total / max(count, 1)
        log.debug("epoch %d: %s", epoch + 1,
                  ", ".join(f"{k}={v:.4g}" for k, v in asdict(history[-1]).items() if isinstance(v, float)))
        advance("epoch", epoch + 1, epochs, f"loss {step_loss:.4g}")
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, history)
    return history
