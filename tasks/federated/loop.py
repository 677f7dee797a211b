"""The federated loop: split the training pool among clients, then each round sample clients, run their updates
(through ``map_clients``: in-process here, mapped Prefect tasks in tasks/federated/task.py), let the server
combine the uploads, and score the global model on the test split.

Round 0 of the history is the initial model (nothing sent yet); bytes are per round and cumulative.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from spotlab.models.registry import build_model
from spotlab.tasks.federated.clients import dirichlet_split, sample_clients
from spotlab.tasks.federated.config import FederatedConfig
from spotlab.tasks.federated.protocol import ClientJob, Upload, model_bytes
from spotlab.tasks.progress import advance
from spotlab.tasks.train.loop import evaluate_split, resolve_device

ClientUpdate = Callable[[ClientJob], Upload]
MapClients = Callable[[ClientUpdate, list[ClientJob]], list[Upload]]


def in_process(update: ClientUpdate, jobs: list[ClientJob]) -> list[Upload]:
    """One round's client updates one after another in this process."""
    return [update(job) for job in jobs]


@dataclass
class FederatedResult:
    model: nn.Module
    history: list[dict[str, Any]]
    rounds_to_target: int | None


def rounds_to_target(history: list[dict[str, Any]], target: float | None) -> int | None:
    """The first round whose test accuracy reaches ``target`` (None when none does, or no target is set)."""
    if target is None:
        return None
    return next((row["round"] for row in history if row["test_accuracy"] >= target), None)


def run_federated(
    cfg: FederatedConfig, splits, info, seed: int, map_clients: MapClients = in_process
) -> FederatedResult:
    if info.task != "classification":
        raise ValueError("federated learning needs a classification dataset; the prepared data are "
                         f"{info.task!r} (choose a classification data.dataset.kind)")
    device = resolve_device(cfg.device)
    torch.manual_seed(seed)
    model = build_model(cfg.model, info.input_shape, info.num_outputs, info.mean, info.std).to(device)
    x_train, y_train = (torch.as_tensor(a).to(device) for a in (splits.x_train, splits.y_train))
    x_test, y_test = torch.as_tensor(splits.x_test), torch.as_tensor(splits.y_test)
    holdings = dirichlet_split(splits.y_train, cfg.clients, cfg.alpha, seed, cfg.min_client_size)
    algorithm = cfg.algorithm.build()
    test_loss, test_accuracy = evaluate_split(model, x_test, y_test, info.task)
    history = [{"round": 0, "test_accuracy": test_accuracy, "test_loss": test_loss, "upload_bytes": 0,
                "download_bytes": 0, "cumulative_upload_bytes": 0, "seconds": 0.0}]
    for r in range(cfg.rounds):
        started = time.perf_counter()
        jobs = [ClientJob(r, c, x_train[holdings[c]], y_train[holdings[c]], model, seed)
                for c in sample_clients(cfg.clients, cfg.clients_per_round, seed, r)]
        uploads = map_clients(algorithm.client_update, jobs)
        weights, extra = algorithm.server_update(model, uploads, seed, r)
        torch.nn.utils.vector_to_parameters(weights, model.parameters())
        test_loss, test_accuracy = evaluate_split(model, x_test, y_test, info.task)
        upload = sum(u.wire_bytes() for u in uploads)
        history.append({
            "round": r + 1, "test_accuracy": test_accuracy, "test_loss": test_loss, "upload_bytes": upload,
            "download_bytes": model_bytes(model) * len(jobs),
            "cumulative_upload_bytes": history[-1]["cumulative_upload_bytes"] + upload,
            "seconds": time.perf_counter() - started, **extra,
        })
        advance("round", r + 1, cfg.rounds, f"accuracy {test_accuracy:.3f}")
    return FederatedResult(model.eval(), history, rounds_to_target(history, cfg.target_accuracy))
