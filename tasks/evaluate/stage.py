"""The ``evaluate`` stage: accuracy, loss, NLL and ECE (or MSE/MAE/GM overall and per shot region for regression)
of a trained model."""

from __future__ import annotations

import torch

from spotlab.infra.runs import StageResult
from spotlab.infra.stages import StageContext
from spotlab.models.registry import model_from_bytes
from spotlab.tasks.data.stage import load_prepared
from spotlab.tasks.evaluate.metrics import classification_metrics, regression_metrics
from spotlab.tasks.train.loop import predict

STAGE = "evaluate"


def run(ctx: StageContext) -> StageResult:
    splits, info = load_prepared(ctx)
    model = model_from_bytes(ctx.read("model"))
    x = getattr(splits, f"x_{ctx.config.split}")
    y = getattr(splits, f"y_{ctx.config.split}")
    out = predict(model, torch.as_tensor(x)).numpy()
    if info.task == "classification":
        metrics = classification_metrics(out, y, ctx.config.ece_bins)
    else:
        metrics = regression_metrics(out.squeeze(-1), y, splits.y_train, ctx.config.label_bins)
    ctx.write_json("metrics.json", metrics)
    return ctx.result(metrics)
