"""Train one worker's part of a data-parallel run and score it (for the study and the tests, through
:func:`spotlab.tasks.distributed.spawn.run_workers`; the train stage adds checkpoints and artifacts around the same steps)."""

from __future__ import annotations

from dataclasses import asdict

import torch

from spotlab.models.registry import build_model
from spotlab.tasks.distributed.collective import Collective
from spotlab.tasks.distributed.parallel import DataParallel
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.loop import evaluate_split, fit
from spotlab.tasks.train.objectives import build_objective
from spotlab.tasks.train.schedules import build_scheduler


def train_worker(collective: Collective, cfg: TrainConfig, splits, info, seed: int) -> dict:
    """This worker's final parameters (at the evaluation point), test accuracy, history and bytes per step."""
    parallel = DataParallel(cfg.distributed, collective, seed)
    torch.manual_seed(seed)
    model = build_model(cfg.model, info.input_shape, info.num_outputs, info.mean, info.std)
    module, optimizer = parallel.setup(model, cfg.optimizer)
    as_tensor = torch.as_tensor
    history = fit(
        module,
        optimizer,
        build_scheduler(cfg.schedule, optimizer, cfg.epochs),
        build_objective(cfg.objective, info.task, info.bounds, as_tensor(splits.y_train)),
        (as_tensor(splits.x_train), as_tensor(splits.y_train)),
        (as_tensor(splits.x_val), as_tensor(splits.y_val)),
        task=info.task,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        seed=seed,
        step=parallel.step,
        evaluate_at=lambda: parallel.evaluation_point(optimizer),
    )
    with parallel.evaluation_point(optimizer):
        _, accuracy = evaluate_split(model, as_tensor(splits.x_test), as_tensor(splits.y_test), info.task)
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return {
        "test_accuracy": accuracy,
        "state_dict": state,
        "history": [asdict(m) for m in history],
        **parallel.communication(),
    }
