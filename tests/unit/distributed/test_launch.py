"""The train stage through the local launcher (torchrun + the worker entry point): 2 workers without compression
write the same model as the single-process stage, plus the communication metrics."""

from __future__ import annotations

import io

import pytest
import torch

from spotlab.tasks.distributed.stage import local_launch_command, worker_command


def test_two_worker_stage_writes_the_single_process_model(train_stage):
    one, one_model, _ = train_stage("one")
    two, two_model, run = train_stage("two", workers=2)
    assert set(one.artifacts) | {"launch.json"} == set(two.artifacts)
    for (name, a), b in zip(one_model.state_dict().items(), two_model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
    assert two.metrics["workers"] == 2
    assert two.metrics["compression_ratio"] == 1.0
    assert two.metrics["bytes_per_step"] == two.metrics["fp32_bytes_per_step"] > 0
    checkpoint = torch.load(io.BytesIO(run.read(two.artifacts["checkpoints/epoch-0002.pt"])), weights_only=True)
    assert len(checkpoint["optimizer"]) == 2  # every worker's optimizer state


def test_launch_commands():
    args = worker_command("s3://bucket/prefix", "http://minio:9000", "runs/r/train/launch.json")
    assert args[-2:] == ["--endpoint-url", "http://minio:9000"]
    torchrun = local_launch_command("torch", 4, args)
    assert torchrun[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "4"]
    assert torchrun[6:] == args


@pytest.mark.parametrize("launcher", ["kubernetes", "kubeflow"])
def test_cluster_launchers_hand_the_spec_to_the_job_and_return_rank_zeros_result(tmp_path, monkeypatch, launcher):
    """The cluster jobs are tested in tests/infra/test_launchers.py; here a stand-in checks the call and plays
    rank 0."""
    import json

    import spotlab.infra.kube.distributed
    from spotlab.infra.runs import Run, StageResult
    from spotlab.infra.stages import StageContext
    from spotlab.infra.storage import LocalStore
    from spotlab.tasks.distributed.stage import launch
    from spotlab.tasks.train.config import TrainConfig

    calls = []

    def fake_job(*, launcher, run_id, store_url, endpoint_url, spec_key, nodes, gpus_per_node, cpu_per_node,
                 memory_per_node, backend, runtime):
        calls.append((launcher, run_id, store_url, endpoint_url, nodes, gpus_per_node, memory_per_node, backend))
        store = LocalStore(store_url)
        spec = json.loads(store.get_bytes(spec_key))
        workers = TrainConfig.model_validate(spec["config"]).distributed.workers
        store.put_bytes(spec["result_key"], StageResult(metrics={"workers": workers}).model_dump_json().encode())

    monkeypatch.setattr(spotlab.infra.kube.distributed, "run_distributed_job", fake_job)
    store = LocalStore(tmp_path)
    run = Run.create(store, "kube", {}, "test")
    config = TrainConfig.model_validate({"distributed": {
        "workers": 4, "launcher": launcher, "gpus_per_node": 2, "memory_per_node": "16Gi"}})
    result = launch(StageContext(run=run, stage="train", config=config, seed=0, identity="test"))
    assert calls == [(launcher, run.run_id, store.url, None, 2, 2, "16Gi", "torch")]
    assert result.metrics == {"workers": 4} and set(result.artifacts) == {"launch.json"}


def test_indexed_job_pod_commands_train_the_single_process_model(train_stage, monkeypatch):
    """The Indexed Job's pod command, run here as two "pods" (one process each, static rendezvous at pod 0, node rank
    from JOB_COMPLETION_INDEX), trains what one process trains."""
    import os
    import socket
    import subprocess
    import sys

    import spotlab.infra.kube.distributed
    from spotlab.infra.kube.distributed import DistributedJobSpec
    from spotlab.infra.kube.indexed_job import worker_command

    def pods_here(*, launcher, run_id, store_url, endpoint_url, spec_key, nodes, gpus_per_node, cpu_per_node,
                  memory_per_node, backend, runtime):
        spec = DistributedJobSpec(name="sl-test-00000000", namespace="ml", image="-", store_url=store_url,
                                  endpoint_url=endpoint_url, spec_key=spec_key, nodes=nodes)
        with socket.socket() as probe:  # a free port for pod 0's rendezvous
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        pods = []
        for index in range(nodes):
            args = [a.replace("$(JOB_COMPLETION_INDEX)", str(index)) for a in worker_command(spec)[1:]]
            args = ["--master-addr=127.0.0.1" if a.startswith("--master-addr=") else
                    f"--master-port={port}" if a.startswith("--master-port=") else a for a in args]
            pods.append(subprocess.Popen([sys.executable, *args], env={**os.environ, "OMP_NUM_THREADS": "1"}))
        try:
            assert [pod.wait(timeout=300) for pod in pods] == [0] * nodes
        finally:
            for pod in pods:
                pod.kill()  # no effect on a pod that exited; ends one left waiting for a rendezvous

    monkeypatch.setattr(spotlab.infra.kube.distributed, "run_distributed_job", pods_here)
    one, one_model, _ = train_stage("one")
    two, two_model, _ = train_stage("two", workers=2, launcher="kubernetes")
    for (name, a), b in zip(one_model.state_dict().items(), two_model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
    assert two.metrics["workers"] == 2
