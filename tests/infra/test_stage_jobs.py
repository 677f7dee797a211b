"""Per-stage jobs (``execution.stages: deployments``): the config rule, the parent's and each stage's job variables,
and end to end a pipeline deployment run through a real Prefect API and a ``prefect worker`` of a **process** work
pool standing in for the Kubernetes pool (the same code path up to the worker type: deployments, run_deployment,
job variables, one worker-started process per flow run), with artifacts in a moto S3 server on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from spotlab.flows.deployments import deployments
from spotlab.flows.stage_jobs import STAGE_FLOWS
from spotlab.flows.stages import STAGES
from spotlab.infra.config import ConfigError, PipelineConfig, load_config
from spotlab.infra.kube.resources import StageResources, job_variables
from spotlab.infra.kube.work_pool import base_job_template
from spotlab.infra.runs import Run, new_run_id
from spotlab.infra.settings import STAGE_EXECUTION_ENV
from spotlab.infra.storage import open_store

PREFECT = [sys.executable, "-m", "prefect"]
RESOURCES = {"train": {"gpus": 1, "cpu": "2", "memory": "1Gi"}}


def test_every_stage_has_a_flow_of_its_own():
    assert set(STAGE_FLOWS) == set(STAGES)


def test_stage_jobs_need_an_s3_store():
    with pytest.raises(ValueError, match=r"execution.stages='deployments'.*storage.url='./local'.*s3://"):
        PipelineConfig.model_validate({"storage": {"url": "./local"}, "execution": {"stages": "deployments"}})
    config = PipelineConfig.model_validate({"storage": {"url": "s3://b/p"}, "execution": {"stages": "deployments"}})
    assert config.execution.stages == "deployments"


def test_the_default_comes_from_the_environment(monkeypatch):
    assert PipelineConfig().execution.stages == "inline"
    monkeypatch.setenv(STAGE_EXECUTION_ENV, "deployments")
    assert PipelineConfig(storage={"url": "s3://b/p"}).execution.stages == "deployments"
    monkeypatch.setenv(STAGE_EXECUTION_ENV, "pods")
    with pytest.raises(ValueError, match=r"stages\n.*'inline' or 'deployments'.*input_value='pods'"):
        PipelineConfig(storage={"url": "s3://b/p"})


def test_the_pipelines_own_job_needs_no_gpu_when_stages_are_jobs():
    execution = {"resources": RESOURCES | {"evaluate": {"memory": "4Gi"}}}
    inline = PipelineConfig.model_validate({"execution": execution}).execution
    assert job_variables(inline.pipeline_resources()) == {  # one job runs every stage: the largest of each
        "gpu_limit": 1, "cpu_request": "2", "cpu_limit": "2", "memory_request": "4Gi", "memory_limit": "4Gi"}
    jobs = PipelineConfig.model_validate(
        {"execution": execution | {"stages": "deployments"}, "storage": {"url": "s3://b/p"}}).execution
    assert job_variables(jobs.pipeline_resources()) == {"gpu_limit": 0}
    assert job_variables(jobs.stage_resources("train")) == {
        "gpu_limit": 1, "cpu_request": "2", "cpu_limit": "2", "memory_request": "1Gi", "memory_limit": "1Gi"}
    assert job_variables(jobs.stage_resources("prep")) == {"gpu_limit": 0}


def quick_config(store_url: str, endpoint_url: str, stages: str) -> PipelineConfig:
    return load_config("quickstart", [f"storage.url={store_url}", f"storage.endpoint_url={endpoint_url}",
                                      "train.epochs=2", f"execution.stages={stages}",
                                      f"execution.resources={RESOURCES}"])


def test_missing_stage_deployments_fail_the_run_before_any_stage(prefect_api, s3_bucket, s3_server):
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from spotlab.flows.pipeline import pipeline
    from spotlab.flows.stage_jobs import deployment_of

    config = quick_config(s3_bucket, s3_server, "deployments")
    with get_client(sync_client=True) as client:  # the session's API may hold them from `spotlab deploy`'s test
        for stage in ("prep", "train", "evaluate"):
            try:
                client.delete_deployment(client.read_deployment_by_name(deployment_of(stage)).id)
            except ObjectNotFound:
                pass
    run_id = new_run_id()
    with pytest.raises(ConfigError, match=r"needs the deployments \['prep/spotlab'.*spotlab deploy"):
        pipeline(config, run_id=run_id)
    manifest = Run.open(open_store(s3_bucket, s3_server), run_id).manifest
    assert manifest.status == "failed" and "spotlab deploy" in manifest.error and not manifest.stages


def process_pool_template() -> dict:
    """Prefect's process-worker template that also declares the spotlab Kubernetes template's resource variables
    (the process worker ignores them), so runs are created and validated with exactly the job variables the
    Kubernetes pool receives."""
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    kubernetes = base_job_template()["variables"]["properties"]
    resource_variables = job_variables(StageResources(gpus=1, cpu="1", memory="1Gi"))
    template["variables"]["properties"] |= {name: kubernetes[name] for name in resource_variables}
    return template


def test_a_pipeline_deployment_runs_each_stage_as_its_own_flow_run(prefect_api, s3_server, s3_bucket, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterParentFlowRunId
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL

    from spotlab.flows.pipeline import pipeline

    pool = "stage-jobs"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process", base_job_template=process_pool_template()))
    flows = ["pipeline", "prep", "train", "evaluate"]
    deployment_ids = {d.flow_name: d.apply(work_pool_name=pool) for d in deployments(flows)}

    config = quick_config(s3_bucket, s3_server, "deployments")
    run_id = new_run_id()
    env = os.environ | {"PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_WORKER_QUERY_SECONDS": "1",
                        "OMP_NUM_THREADS": "1"}
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:  # a file, not a pipe: nobody reads while the runs write
        worker = subprocess.Popen([*PREFECT, "worker", "start", "--pool", pool, "--type", "process"], env=env,
                                  cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        parent = run_deployment("pipeline/spotlab",
                                parameters={"config": config.model_dump(mode="json"), "run_id": run_id},
                                job_variables=job_variables(config.execution.pipeline_resources()),
                                timeout=240, poll_interval=1)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    assert parent.state.is_completed(), f"{parent.state}\n{log_path.read_text()[-6000:]}"
    assert parent.job_variables == {"gpu_limit": 0}  # the orchestrating job stays a CPU pod

    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id])))
        parent_tasks = {t.id: t for t in client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[parent.id])))}
    by_stage = {}
    for child in children:
        (stage,) = [name for name, i in deployment_ids.items() if i == child.deployment_id]
        by_stage[stage] = child
    assert sorted(by_stage) == ["evaluate", "prep", "train"]
    for stage, child in by_stage.items():
        assert child.state.is_completed()
        assert child.parent_task_run_id in parent_tasks  # a child flow run of the pipeline's
        assert child.parameters["run"]["run_id"] == run_id and "inputs" not in child.parameters
        assert child.job_variables == job_variables(config.execution.stage_resources(stage))
    assert by_stage["train"].job_variables["gpu_limit"] == 1 and by_stage["prep"].job_variables["gpu_limit"] == 0
    # The worker started each flow run as its own process.
    pids = [r.infrastructure_pid for r in (parent, *children)]
    assert all(pids) and len(set(pids)) == 4, pids

    # The manifest has the shape of an inline run of the same config: the same stages, identities, metrics and
    # artifacts with their lineage, and the same bytes (the stages are deterministic) except for wall-clock times.
    jobs_run = Run.open(open_store(s3_bucket, s3_server), run_id).manifest
    inline_store = s3_bucket + "-inline"
    inline = pipeline(quick_config(inline_store, s3_server, "inline"))
    inline_run = Run.open(open_store(inline_store, s3_server), inline["run_id"]).manifest
    assert jobs_run.status == inline_run.status == "completed"
    assert list(jobs_run.stages) == list(inline_run.stages) == ["prep", "train", "evaluate"]
    timed = "seconds"  # train's wall time: in its metrics, and per epoch in its metrics.json and checkpoints
    for stage, record in jobs_run.stages.items():
        other = inline_run.stages[stage]
        assert (record.config_hash, record.cache_key) == (other.config_hash, other.cache_key)
        assert {k: v for k, v in record.metrics.items() if k != timed} == \
            {k: v for k, v in other.metrics.items() if k != timed}

    def artifacts(manifest):
        with_times = ("train/metrics.json", "train/checkpoints/")
        return {a.path: (a.media_type, a.inputs, None if a.path.startswith(with_times) else a.sha256)
                for a in manifest.artifacts}

    assert artifacts(jobs_run) == artifacts(inline_run)
    operational = ("storage", "execution")
    assert {k: v for k, v in jobs_run.config.items() if k not in operational} == \
        {k: v for k, v in inline_run.config.items() if k not in operational}
