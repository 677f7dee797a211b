"""The ``federated`` stage: federated training on the prepared data's training split (clients by a Dirichlet split),
writing the global model, the per-round metrics and the accuracy curves."""

from __future__ import annotations

from spotlab.infra.runs import StageResult
from spotlab.infra.stages import StageContext
from spotlab.models.registry import model_to_bytes
from spotlab.tasks.data.stage import load_prepared
from spotlab.tasks.federated.loop import MapClients, in_process, run_federated
from spotlab.tasks.federated.plots import plot_accuracy
from spotlab.tasks.study.report import markdown_table

STAGE = "federated"


def run(ctx: StageContext, map_clients: MapClients = in_process) -> StageResult:
    cfg = ctx.config
    splits, info = load_prepared(ctx)
    result = run_federated(cfg, splits, info, ctx.seed, map_clients)
    model = result.model.cpu()
    ctx.write("model.pt", model_to_bytes(model, cfg.model, info.input_shape, info.num_outputs), "application/x-pytorch")
    ctx.write_json("rounds.json", result.history)
    ctx.write("rounds.md", markdown_table(result.history).encode(), "text/markdown")
    ctx.write_png("accuracy.png", plot_accuracy({cfg.algorithm.kind: result.history}, target=cfg.target_accuracy))
    last = result.history[-1]
    return ctx.result({
        "algorithm": cfg.algorithm.kind,
        "rounds": cfg.rounds,
        "final_accuracy": last["test_accuracy"],
        "rounds_to_target": result.rounds_to_target,
        "upload_bytes": last["cumulative_upload_bytes"],
        "download_bytes": sum(row["download_bytes"] for row in result.history),
    })
