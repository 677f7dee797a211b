"""Run a function on N local processes joined in one gloo process group (the study and the tests use it; the train
stage launches through torchrun or horovodrun instead, see ``tasks/distributed/stage.py``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from spotlab.tasks.distributed.collective import TorchCollective


def _worker(rank: int, fn: Callable, world: int, folder: str, args: tuple) -> None:
    torch.set_num_threads(1)  # N processes share the machine's cores
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world)
    try:
        result = fn(TorchCollective(), *args)
        torch.save(result, Path(folder) / f"result-{rank}.pt")
    finally:
        dist.destroy_process_group()


def run_workers(fn: Callable[..., Any], workers: int, *args: Any) -> list[Any]:
    """``fn(collective, *args)`` on ``workers`` processes; returns each worker's result in rank order.

    ``fn`` and ``args`` must be picklable (a module-level function). Workers are forked from a fork server that
    imported torch once (starting a fresh interpreter per worker costs seconds each); forking the caller itself
    would copy whatever threads it holds (Prefect's, torch's pools) into a half-dead state.
    """
    # torch._dynamo is what DistributedDataParallel imports on first use (~900 modules, seconds per worker).
    mp.set_forkserver_preload(["torch", "torch._dynamo", "spotlab.tasks.distributed.training"])
    with tempfile.TemporaryDirectory(prefix="spotlab-workers-") as folder:
        mp.start_processes(_worker, args=(fn, workers, folder, args), nprocs=workers, start_method="forkserver")
        return [torch.load(Path(folder) / f"result-{r}.pt", weights_only=False) for r in range(workers)]
