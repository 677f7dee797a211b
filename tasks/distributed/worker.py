"""Distributed worker entry point: ``python -m spotlab.tasks.distributed.worker --store URL [--endpoint-url E] --spec KEY``.

Started by torchrun (rank and rendezvous from its environment variables: gloo on CPU, NCCL on GPU; locally, in a
Kubeflow TrainJob or in an Indexed Job), or for the horovod backend by ``horovodrun --gloo`` (local) or ``mpirun``
(a Kubeflow MPI TrainJob). Reads the launch spec, runs the train stage's :func:`spotlab.tasks.train.stage.train`
with this worker's share, and on rank 0 stores the stage result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch
import torch.distributed as dist

from spotlab.infra.runs import ArtifactRef, Run
from spotlab.infra.stages import StageContext
from spotlab.infra.storage import open_store
from spotlab.tasks.distributed.collective import Collective, TorchCollective
from spotlab.tasks.distributed.parallel import DataParallel
from spotlab.tasks.train import stage as train_stage
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.loop import resolve_device


def join(backend: str, device: torch.device) -> Collective:
    if backend == "horovod":
        from spotlab.tasks.distributed.horovod import HorovodCollective

        collective = HorovodCollective()
        local_rank = collective.hvd.local_rank()
    else:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        collective = TorchCollective()
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    return collective


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="Artifact store URL (a directory or s3://bucket/prefix).")
    parser.add_argument("--endpoint-url", default=None, help="S3-compatible endpoint.")
    parser.add_argument("--spec", required=True, help="Key of the launch spec in the store.")
    args = parser.parse_args(argv)

    store = open_store(args.store, args.endpoint_url)
    spec = json.loads(store.get_bytes(args.spec))
    config = TrainConfig.model_validate(spec["config"])
    collective = join(config.distributed.backend, resolve_device(config.device))
    ctx = StageContext(
        run=Run.open(store, spec["run_id"]),
        stage=spec["stage"],
        config=config,
        seed=spec["seed"],
        identity=spec["identity"],
        inputs={name: ArtifactRef.model_validate(ref) for name, ref in spec["inputs"].items()},
    )
    result = train_stage.train(ctx, DataParallel(config.distributed, collective, spec["seed"]))
    if collective.rank == 0:
        store.put_bytes(spec["result_key"], result.model_dump_json().encode())
    collective.close()


if __name__ == "__main__":
    main()
    # Leave as multiprocessing's workers do, without finalizing the interpreter: DDP keeps its gloo process group
    # alive past destroy_process_group(), and a gloo thread still releasing the last collective's tensors needs the
    # GIL; taken while the interpreter finalizes, that aborts the worker (SIGABRT, "terminate called without an
    # active exception"; pytorch/pytorch#190489) after everything was stored, and torchrun reports a failure.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
