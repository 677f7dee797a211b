"""The ``train`` stage: build the configured model, fit it, write checkpoints, the model, metrics and curves.

A retried train stage resumes from the newest checkpoint it already wrote in the same run.
"""

from __future__ import annotations

import io
import logging
from dataclasses import asdict

import torch

from infra import paths
from infra.runs import StageResult
from infra.stages import StageContext
from models.registry import build_model, model_to_bytes
from tasks.data.stage import load_prepared
from tasks.train.config import TrainConfig
from tasks.train.loop import EpochMetrics, capture_rng, fit, resolve_device, restore_rng
from tasks.train.plots import plot_curves
from tasks.train.schedules import build_scheduler

STAGE = "train"
log = logging.getLogger("spotlab.train")


def checkpoint_name(epoch: int) -> str:
    return f"checkpoints/epoch-{epoch:04d}.pt"


def _latest_checkpoint(ctx: StageContext) -> dict | None:
    prefix = paths.stage_prefix(ctx.run.run_id, ctx.stage) + "/checkpoints"
    keys = ctx.run.store.list_keys(prefix)
    if not keys:
        return None
    log.info("resuming from %s", keys[-1])
    return torch.load(io.BytesIO(ctx.run.store.get_bytes(keys[-1])), map_location="cpu", weights_only=False)


def run(ctx: StageContext) -> StageResult:
    cfg: TrainConfig = ctx.config
    splits, info = load_prepared(ctx)
    device = resolve_device(cfg.device)
    torch.manual_seed(ctx.seed)
    model = build_model(cfg.model, info.input_shape, info.num_outputs, info.mean, info.std).to(device)
    optimizer = cfg.optimizer.build(model.parameters())
    scheduler = build_scheduler(cfg.schedule, optimizer, cfg.epochs)
    objective = cfg.objective.build(info.task, info.bounds)

    start_epoch, history = 0, []
    checkpoint = _latest_checkpoint(ctx)
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        restore_rng(checkpoint["rng"])
        start_epoch = checkpoint["epoch"]
        history = [EpochMetrics(**m) for m in checkpoint["history"]]

    def save_checkpoint(epoch: int, history: list[EpochMetrics]) -> None:
        if epoch % cfg.checkpoint_every and epoch != cfg.epochs:
            return
        buffer = io.BytesIO()
        torch.save(
            {
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": capture_rng(),
                "history": [asdict(m) for m in history],
            },
            buffer,
        )
        ctx.write(checkpoint_name(epoch), buffer.getvalue(), "application/x-pytorch")

    as_tensor = lambda a: torch.as_tensor(a)  # noqa: E731 - keeps dtypes (int64 labels, float32 inputs)
    history = fit(
        model,
        optimizer,
        scheduler,
        objective,
        (as_tensor(splits.x_train), as_tensor(splits.y_train)),
        (as_tensor(splits.x_val), as_tensor(splits.y_val)),
        task=info.task,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        seed=ctx.seed,
        start_epoch=start_epoch,
        history=history,
        on_epoch_end=save_checkpoint,
    )
    ctx.write("model.pt", model_to_bytes(model.cpu(), cfg.model, info.input_shape, info.num_outputs), "application/x-pytorch")
    ctx.write_json("metrics.json", [asdict(m) for m in history])
    ctx.write_png("curves.png", plot_curves(history))
    final = history[-1]
    metrics = {k: v for k, v in asdict(final).items() if v is not None and k != "seconds"}
    metrics["seconds"] = round(sum(m.seconds for m in history), 3)
    return ctx.result(metrics)
