"""The ``study`` stage: run a paper's claim check and write its result table, claims, figures and report."""

from __future__ import annotations

from dataclasses import asdict

from spotlab.infra.runs import StageResult
from spotlab.infra.stages import StageContext
from spotlab.tasks.data.stage import load_prepared
from spotlab.tasks.study.report import markdown_table, report_markdown

STAGE = "study"


def run(ctx: StageContext) -> StageResult:
    study = ctx.config
    if study.needs_data and "splits" not in ctx.inputs:
        raise ValueError(f"study {study.kind!r} needs prepared data: keep 'prep' in stages")
    data = load_prepared(ctx) if study.needs_data else None
    report = study.run(data, ctx.seed)
    ctx.write_json("table.json", report.table)
    ctx.write("table.md", markdown_table(report.table).encode(), "text/markdown")
    ctx.write_json("claims.json", [asdict(c) for c in report.claims])
    for name, figure in report.figures.items():
        ctx.write_png(f"{name}.png", figure)
    ctx.write("report.md", report_markdown(report).encode(), "text/markdown")
    passed = sum(c.verdict == "pass" for c in report.claims)
    return ctx.result({"title": report.title, "claims_passed": passed, "claims": len(report.claims),
                       **{f"claim.{c.id}": c.verdict for c in report.claims}})
