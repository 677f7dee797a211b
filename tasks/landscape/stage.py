"""The ``landscape`` stage: curvature, m-sharpness and flatness of any trained model, as tables and plots."""

from __future__ import annotations

import torch

from spotlab.infra.runs import StageResult
from spotlab.infra.stages import StageContext
from spotlab.models.registry import model_from_bytes
from spotlab.tasks.data.stage import load_prepared
from spotlab.tasks.study.report import markdown_table

STAGE = "landscape"


def run(ctx: StageContext) -> StageResult:
    cfg = ctx.config
    splits, info = load_prepared(ctx)
    model = model_from_bytes(ctx.read("model"))
    x, y = (torch.as_tensor(getattr(splits, f"{name}_{cfg.split}")) for name in ("x", "y"))
    if not len(x):
        raise ValueError(f"landscape.split={cfg.split!r} is empty; choose a split the prep stage fills")
    keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(ctx.seed))[: cfg.max_examples]
    x, y = x[keep], y[keep]
    tables, metrics, sections = {}, {"examples": len(x)}, []
    for analysis in cfg.analyses:
        result = analysis.run(model, x, y, info.task, ctx.seed)
        tables[analysis.kind] = result.rows
        metrics |= {f"{analysis.kind}.{k}": v for k, v in result.summary.items()}
        sections.append(f"## {analysis.kind}\n\n{markdown_table(result.rows)}")
        if result.figure is not None:
            ctx.write_png(f"{analysis.kind}.png", result.figure)
    ctx.write_json("landscape.json", tables)
    ctx.write("landscape.md", "\n".join([f"# Loss landscape ({cfg.split} split)\n", *sections]).encode(), "text/markdown")
    return ctx.result(metrics)
