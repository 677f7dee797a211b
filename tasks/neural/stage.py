"""The ``sensitivity`` stage: the trained model as the student of the brain stand-in — readout predictivity and
the s̃ sweep with its bounds, as JSON, Markdown and a PNG of the curves."""

from __future__ import annotations

from spotlab.infra.runs import StageResult
from spotlab.infra.stages import StageContext
from spotlab.models.registry import model_from_bytes
from spotlab.tasks.data.stage import load_prepared
from spotlab.tasks.neural.config import SensitivityStageConfig
from spotlab.tasks.neural.plots import plot_sensitivity_curves
from spotlab.tasks.study.report import markdown_table

STAGE = "sensitivity"


def run(ctx: StageContext) -> StageResult:
    cfg: SensitivityStageConfig = ctx.config
    splits, info = load_prepared(ctx)
    if info.bounds is None:
        raise ValueError("the sensitivity stage needs bounded inputs (the dataset has no input box)")
    student = model_from_bytes(ctx.read("model")).eval()
    brain = cfg.brain.build(splits, info, ctx.seed)
    rows, details = cfg.evaluate(brain, student, splits, info.bounds, ctx.seed)
    ctx.write_json("sensitivity.json", {"rows": rows, "details": details})
    ctx.write("sensitivity.md", markdown_table(rows).encode(), "text/markdown")
    ctx.write_png("sensitivity.png", plot_sensitivity_curves([{**row, "student": "model"} for row in rows]))
    metrics = {"predictivity": rows[0]["predictivity"]}
    for row in rows:
        metrics[f"eps={row['eps']:g}"] = {k: row[k] for k in ("readout", "transfer", "random", "white_box")}
    return ctx.result(metrics)
