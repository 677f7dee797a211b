"""The ``attack`` stage: run the configured attacks on a trained model and write the robustness table (JSON and
Markdown, ending with the sanity checks; failed ones are also the ``sanity_warnings`` metric), per-example
results (npz), a PNG of clean/adversarial examples and, when asked, the random-perturbation
metrics (ProbAcc, augmented accuracy, test CVaR) as random.json."""

from __future__ import annotations

import torch

from spotlab.infra.runs import StageResult
from spotlab.infra.stages import StageContext
from spotlab.models.registry import model_from_bytes
from spotlab.tasks.attack.config import AttackStageConfig
from spotlab.tasks.attack.evaluation import attack_label, evaluate_attacks
from spotlab.tasks.attack.plots import plot_examples
from spotlab.tasks.data.stage import load_prepared
from spotlab.tasks.study.report import markdown_table
from spotlab.tasks.train.loop import resolve_device

STAGE = "attack"


def run(ctx: StageContext) -> StageResult:
    cfg: AttackStageConfig = ctx.config
    splits, info = load_prepared(ctx)
    if info.task != "classification":
        raise ValueError(f"the attack stage needs a classification dataset, got a {info.task} one")
    if info.bounds is None:
        raise ValueError("the attack stage needs bounded inputs (the dataset has no input box)")
    model = model_from_bytes(ctx.read("model")).to(resolve_device(cfg.device))
    x = torch.as_tensor(getattr(splits, f"x_{cfg.split}")[: cfg.n_examples])
    y = torch.as_tensor(getattr(splits, f"y_{cfg.split}")[: cfg.n_examples])
    rows, arrays, warnings = evaluate_attacks(model, x, y, list(cfg.attacks), info.bounds, ctx.seed)
    ctx.write_json("table.json", rows)
    checks = "\n".join(f"- WARNING: {w}" for w in warnings) or "- all passed"
    ctx.write("table.md", f"{markdown_table(rows)}\n\nSanity checks (zero DLR gradients, robust accuracy "
              f"non-increasing in eps, success ≥ random noise):\n\n{checks}\n".encode(), "text/markdown")
    ctx.write_npz("examples.npz", **arrays)
    ctx.write_png("examples.png", plot_examples(arrays, [attack_label(a) for a in cfg.attacks], cfg.n_shown))
    metrics = {"n": len(y), "clean_accuracy": rows[0]["clean_accuracy"], "sanity_warnings": warnings}
    if cfg.random_perturbations is not None:
        metrics["random"] = cfg.random_perturbations.evaluate(model, x, y, info.bounds, ctx.seed)
        ctx.write_json("random.json", metrics["random"])
    for i, row in enumerate(rows):
        metrics[f"{i}.{row['kind']}"] = {k: row[k] for k in ("success_rate", "robust_accuracy", "seconds")}
    return ctx.result(metrics)
