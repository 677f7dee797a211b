"""The ``prune`` stage: prune the trained model with the configured strategy; write the masks with their sparsity
report, the pruned model, the per-level table, the per-layer spectra and the Δr-vs-sparsity plot.

Iterative strategies (imp, ramanujan-imp) need the network at initialisation to rewind to, which the train stage
does not keep: they re-initialise the input model's architecture under the run seed and train it themselves.
"""

from __future__ import annotations

import copy
import io

import torch
from pydantic import TypeAdapter

from spotlab.infra.runs import StageResult
from spotlab.infra.stages import StageContext
from spotlab.models.registry import ModelConfig, model_from_bytes, model_to_bytes
from spotlab.tasks.data.stage import load_prepared
from spotlab.tasks.prune.levels import level_rows, plot_levels, run_levels, spectra_rows
from spotlab.tasks.prune.masks import sparsity_report
from spotlab.tasks.prune.training import PruneData
from spotlab.tasks.study.report import markdown_table

STAGE = "prune"


def reinitialized(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    fresh = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in fresh.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return fresh


def run(ctx: StageContext) -> StageResult:
    cfg = ctx.config
    splits, info = load_prepared(ctx)
    model_file = ctx.read("model")
    model = model_from_bytes(model_file)
    if cfg.method.from_init:
        model = reinitialized(model, ctx.seed)
    results, pruned = run_levels(cfg.method, model, PruneData(splits, info, cfg.noise_std), ctx.seed)
    final = results[-1]

    buffer = io.BytesIO()
    torch.save({name: mask.clone() for name, mask in final.masks.items()}, buffer)
    ctx.write("masks.pt", buffer.getvalue(), "application/x-pytorch")
    ctx.write_json("sparsity.json", sparsity_report(final.masks))
    ctx.write("model.pt", model_to_bytes(pruned, _model_config(model_file), info.input_shape, info.num_outputs),
              "application/x-pytorch")
    table = level_rows(results)
    ctx.write_json("levels.json", table)
    ctx.write("levels.md", markdown_table(table).encode(), "text/markdown")
    ctx.write_json("spectra.json", spectra_rows(results))
    metric = "accuracy" if info.task == "classification" else "mse"
    ctx.write_png("spectra.png", plot_levels({cfg.method.kind: results}, metric))
    analysed = [s for s in final.spectra if s.delta_r is not None]
    return ctx.result({
        "levels": len(results) - 1,
        "sparsity": round(final.sparsity, 4),
        **final.metrics,
        "ramanujan_layers": sum(s.delta_r >= 0 for s in analysed),
        "analysed_layers": len(analysed),
    })


def _model_config(model_file: bytes):
    """The architecture config recorded in a model file (to write the pruned model in the same format)."""
    payload = torch.load(io.BytesIO(model_file), map_location="cpu", weights_only=True)
    return TypeAdapter(ModelConfig).validate_python(payload["model_config"])
