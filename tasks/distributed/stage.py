"""The distributed train stage's launcher: write a launch spec, start the workers, return what rank 0 wrote.

The spec (an artifact of the train stage) holds everything a worker needs to find its inputs from any machine:
the train config, the seed, the input references and the run id. Workers run ``python -m
spotlab.tasks.distributed.worker --store URL [--endpoint-url E] --spec KEY``, started by torchrun (local), horovodrun
(local, backend horovod), a Kubeflow Trainer TrainJob (kubeflow: torchrun, or mpirun for horovod) or an Indexed Job
of torchrun pods (kubernetes); rank 0 puts the stage result at the spec's
``result_key``.
"""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import sys

from spotlab.infra import paths
from spotlab.infra.runs import ArtifactRef, StageResult
from spotlab.infra.stages import StageContext
from spotlab.tasks.distributed.spawn import horovodrun_command

log = logging.getLogger("spotlab.distributed")


def worker_command(store_url: str, endpoint_url: str | None, spec_key: str) -> list[str]:
    command = ["-m", "spotlab.tasks.distributed.worker", "--store", store_url, "--spec", spec_key]
    return command + (["--endpoint-url", endpoint_url] if endpoint_url else [])


def local_launch_command(backend: str, workers: int, worker_args: list[str]) -> list[str]:
    if backend == "horovod":
        return horovodrun_command(workers, worker_args)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(workers)]
    return torchrun + worker_args


def launch(ctx: StageContext) -> StageResult:
    cfg = ctx.config.distributed
    store = ctx.run.store
    endpoint_url = getattr(store, "endpoint_url", None)
    # A fresh result name per attempt, so that a retried stage never reads an earlier attempt's result.
    result_key = paths.scratch(ctx.run.run_id, ctx.stage, f"result-{secrets.token_hex(4)}.json")
    spec = {
        "run_id": ctx.run.run_id,
        "stage": ctx.stage,
        "config": ctx.config.model_dump(mode="json"),
        "seed": ctx.seed,
        "identity": ctx.identity,
        "inputs": {name: ref.model_dump(mode="json") for name, ref in ctx.inputs.items()},
        "result_key": result_key,
    }
    spec_ref = ctx.write_json("launch.json", spec)
    spec_key = spec_ref.key
    if cfg.launcher != "local":
        from spotlab.infra.kube.distributed import run_distributed_job

        run_distributed_job(
            launcher=cfg.launcher, run_id=ctx.run.run_id, store_url=store.url, endpoint_url=endpoint_url,
            spec_key=spec_key, nodes=cfg.nodes, gpus_per_node=cfg.gpus_per_node, cpu_per_node=cfg.cpu_per_node,
            memory_per_node=cfg.memory_per_node, backend=cfg.backend, runtime=cfg.kubeflow_runtime,
        )
    else:
        command = local_launch_command(cfg.backend, cfg.workers, worker_command(store.url, endpoint_url, spec_key))
        log.info("launching %d %s workers: %s", cfg.workers, cfg.backend, " ".join(command))
        finished = subprocess.run(command, check=False)
        if finished.returncode != 0:
            raise RuntimeError(f"distributed training failed: workers exited with {finished.returncode}")
    result = StageResult.model_validate(json.loads(store.get_bytes(result_key)))
    artifacts: dict[str, ArtifactRef] = {**result.artifacts, "launch.json": spec_ref}
    return StageResult(artifacts=artifacts, metrics=result.metrics)
