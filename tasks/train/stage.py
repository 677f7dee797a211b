"""The ``train`` stage: build the configured model, fit it, write checkpoints, the model, metrics and curves.

A retried train stage resumes from the newest checkpoint it already wrote in the same run, but only one written
under the same stage identity (config, seed, inputs); otherwise it starts fresh and logs why. With
``distributed.workers > 1`` the stage launches worker processes (tasks/distributed/stage.py) that each run
:func:`train` with their share of the work; rank 0 writes the same artifacts as the single-process path.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import asdict

import torch

from spotlab.infra.runs import StageResult
from spotlab.infra.stages import StageContext
from spotlab.models.registry import build_model, model_to_bytes
from spotlab.tasks.data.stage import load_prepared
from spotlab.tasks.distributed.parallel import DataParallel
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.loop import EpochMetrics, capture_rng, fit, resolve_device, restore_rng, train_step
from spotlab.tasks.train.objectives import build_objective
from spotlab.tasks.train.plots import plot_curves
from spotlab.tasks.train.schedules import build_scheduler

STAGE = "train"
log = logging.getLogger("spotlab.train")


def checkpoint_name(epoch: int) -> str:
    return f"checkpoints/epoch-{epoch:04d}.pt"


def _resumable_checkpoint(ctx: StageContext) -> dict | None:
    """The newest checkpoint this run's stage wrote as the same work (same identity), else None."""
    earlier = ctx.run.earlier_writes(ctx.stage)
    if earlier is None:
        return None
    identity, written = earlier
    names = sorted(name for name in written if name.startswith("checkpoints/"))
    if not names:
        return None
    if identity != ctx.identity:
        log.info("starting fresh: this run's %s checkpoints were written under stage identity %s, this stage is %s",
                 ctx.stage, identity, ctx.identity)
        return None
    checkpoint = torch.load(io.BytesIO(ctx.run.read(written[names[-1]])), map_location="cpu", weights_only=True)
    if checkpoint.get("identity") != ctx.identity:  # the checkpoint's own record is the last word
        log.info("starting fresh: %s records stage identity %s, this stage is %s", names[-1],
                 checkpoint.get("identity"), ctx.identity)
        return None
    log.info("resuming from %s", names[-1])
    return checkpoint


def run(ctx: StageContext) -> StageResult:
    if ctx.config.distributed.launched:
        from spotlab.tasks.distributed.stage import launch

        return launch(ctx)
    return train(ctx)


def train(ctx: StageContext, parallel: DataParallel | None = None) -> StageResult:
    """Fit and write; on a distributed worker ``parallel`` is its share of the work and only rank 0 writes."""
    cfg: TrainConfig = ctx.config
    writes = parallel is None or parallel.rank == 0
    splits, info = load_prepared(ctx)
    device = resolve_device(cfg.device)
    torch.manual_seed(ctx.seed)
    model = build_model(cfg.model, info.input_shape, info.num_outputs, info.mean, info.std).to(device)
    if parallel is None:
        module, optimizer = model, cfg.optimizer.build(model.named_parameters())
    else:
        module, optimizer = parallel.setup(model, cfg.optimizer)
    evaluate_at = contextlib.nullcontext if parallel is None else lambda: parallel.evaluation_point(optimizer)
    scheduler = build_scheduler(cfg.schedule, optimizer, cfg.epochs)
    objective = build_objective(cfg.objective, info.task, info.bounds, torch.as_tensor(splits.y_train))

    start_epoch, history = 0, []
    checkpoint = _resumable_checkpoint(ctx)
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        states = checkpoint["optimizer"]
        optimizer.load_state_dict(states if parallel is None else parallel.own_optimizer_state(states))
        scheduler.load_state_dict(checkpoint["scheduler"])
        restore_rng(checkpoint["rng"])
        start_epoch = checkpoint["epoch"]
        history = [EpochMetrics(**m) for m in checkpoint["history"]]

    def save_checkpoint(epoch: int, history: list[EpochMetrics]) -> None:
        if epoch % cfg.checkpoint_every and epoch != cfg.epochs:
            return
        # Every worker's optimizer state: error feedback keeps a different error on each.
        optimizer_state = optimizer.state_dict() if parallel is None else parallel.gather_optimizer_states(optimizer)
        if not writes:
            return
        buffer = io.BytesIO()
        torch.save(
            {
                "identity": ctx.identity,
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer_state,
                "scheduler": scheduler.state_dict(),
                "rng": capture_rng(),
                "history": [asdict(m) for m in history],
            },
            buffer,
        )
        ctx.write(checkpoint_name(epoch), buffer.getvalue(), "application/x-pytorch")

    as_tensor = lambda a: torch.as_tensor(a)  # noqa: E731 - keeps dtypes (int64 labels, float32 inputs)
    history = fit(
        module,
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
        step=train_step if parallel is None else parallel.step,
        evaluate_at=evaluate_at,
    )
    with evaluate_at():
        model_bytes = model_to_bytes(model, cfg.model, info.input_shape, info.num_outputs)
    if not writes:
        return ctx.result({})
    ctx.write("model.pt", model_bytes, "application/x-pytorch")
    ctx.write_json("metrics.json", [asdict(m) for m in history])
    ctx.write_png("curves.png", plot_curves(history))
    final = history[-1]
    metrics = {k: v for k, v in asdict(final).items() if v is not None and k != "seconds"}
    metrics["seconds"] = round(sum(m.seconds for m in history), 3)
    if parallel is not None:
        metrics.update(workers=parallel.world, **parallel.communication())
        log.info("%d workers: %.0f bytes/step/worker on the wire, %.1f× less than fp32", parallel.world,
                 metrics["bytes_per_step"], metrics["compression_ratio"])
    return ctx.result(metrics)
