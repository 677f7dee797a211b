"""The ``ood`` stage: turn the trained model into an OOD detector with the configured method (or only score it,
``energy``), then write its FPR95 / AUROC / ID accuracy, the method's end state (WOODS: both constraints), the
per-epoch history, the scores, a histogram of ID vs OOD scores and the fine-tuned model."""

from __future__ import annotations

import io

import torch
from pydantic import TypeAdapter

from spotlab.infra.runs import StageResult
from spotlab.infra.stages import StageContext
from spotlab.models.registry import ModelConfig, model_from_bytes, model_to_bytes
from spotlab.tasks.data.stage import load_prepared
from spotlab.tasks.ood.config import OODStageConfig
from spotlab.tasks.ood.plots import plot_score_histograms
from spotlab.tasks.ood.scores import evaluate_ood
from spotlab.tasks.ood.wild import build_wild
from spotlab.tasks.train.loop import resolve_device

STAGE = "ood"


def run(ctx: StageContext) -> StageResult:
    cfg: OODStageConfig = ctx.config
    splits, info = load_prepared(ctx)
    data = build_wild(cfg.wild, splits, info, ctx.seed)
    model_bytes = ctx.read("model")
    model = model_from_bytes(model_bytes).to(resolve_device(cfg.device))
    result = cfg.method.fine_tune(model, data, cfg.fine_tune, ctx.seed)
    evaluation = evaluate_ood(result.model, data.x_id_test, data.y_id_test, data.x_ood_test)
    metrics = {**evaluation["metrics"], **result.summary, "wild_ood_fraction": float(data.wild_is_ood.float().mean())}
    payload = torch.load(io.BytesIO(model_bytes), map_location="cpu", weights_only=True)
    model_config = TypeAdapter(ModelConfig).validate_python(payload["model_config"])
    ctx.write("model.pt", model_to_bytes(result.model, model_config, info.input_shape, info.num_outputs),
              "application/x-pytorch")
    ctx.write_json("metrics.json", metrics)
    ctx.write_json("history.json", result.history)
    ctx.write_npz("scores.npz", id_scores=evaluation["id_scores"], ood_scores=evaluation["ood_scores"])
    ctx.write_png("histogram.png", plot_score_histograms(
        {cfg.method.kind: (evaluation["id_scores"], evaluation["ood_scores"])}, cfg.bins))
    return ctx.result(metrics)
