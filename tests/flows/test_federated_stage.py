"""The federated stage in the pipeline flow: one round's client updates run as mapped Prefect tasks and give the same
global model and per-round metrics as the in-process loop."""

from __future__ import annotations

import io
import json

import torch
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter, TaskRunFilterName

from spotlab.flows.pipeline import pipeline
from spotlab.infra.config import resolve
from spotlab.infra.runs import Run
from spotlab.infra.storage import open_store
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.federated.loop import run_federated


def config(store: str, algorithm: dict):
    raw = {
        "name": "federated-test",
        "stages": ["prep", "federated"],
        "data": {"dataset": {"kind": "synthetic-classification", "n_samples": 200, "n_features": 6,
                             "n_informative": 4, "n_classes": 3}, "val_fraction": 0.0},
        "federated": {"model": {"kind": "mlp", "hidden": [8]}, "algorithm": algorithm, "clients": 6,
                      "clients_per_round": 3, "alpha": 0.5, "rounds": 2, "target_accuracy": 0.5},
        "storage": {"url": store},
    }
    return resolve(raw, "test")


def client_task_runs(flow_run_id) -> int:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="federated-client")),
        )
    return len(runs)


def test_mapped_client_updates_match_the_in_process_loop(tmp_path, prefect_api):
    for algorithm in ({"kind": "ntk-fl", "lr": 0.1, "taus": [5, 10, 20]}, {"kind": "fedavg", "local_epochs": 2}):
        cfg = config(str(tmp_path / algorithm["kind"]), algorithm)
        state = pipeline(cfg, return_state=True)
        result = state.result()
        run = Run.open(open_store(cfg.storage.url), result["run_id"])
        assert client_task_runs(state.state_details.flow_run_id) == cfg.federated.rounds * 3

        splits, info = prepare(cfg.data, cfg.seed)
        local = run_federated(cfg.federated, splits, info, cfg.seed)
        mapped_rounds = json.loads(run.read(run.find("federated/rounds.json")))
        assert [{k: v for k, v in row.items() if k != "seconds"} for row in mapped_rounds] == \
            [{k: v for k, v in row.items() if k != "seconds"} for row in local.history]
        payload = torch.load(io.BytesIO(run.read(run.find("federated/model.pt"))), weights_only=True)
        for name, value in local.model.state_dict().items():
            assert torch.equal(payload["state_dict"][name], value), name
        metrics = result["stages"]["federated"]
        assert metrics["algorithm"] == algorithm["kind"]
        assert metrics["final_accuracy"] == local.history[-1]["test_accuracy"]
        assert metrics["upload_bytes"] == local.history[-1]["cumulative_upload_bytes"] > 0
        assert {"federated/accuracy.png", "federated/rounds.md"} <= {a.path for a in run.manifest.artifacts}
