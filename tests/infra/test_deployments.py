"""The deployments built in code: every module-path entrypoint imports, its parameters are typed by the project's
pydantic models, and `spotlab deploy` (from a directory outside the checkout) registers all of them with a real
Prefect API, after which the REST API starts deployment runs (the Kubernetes path) instead of local processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools import is_valid_schema, validate

from spotlab.flows.deployments import FLOWS, deployments
from spotlab.flows.stage_jobs import STAGE_FLOWS, section_type
from spotlab.infra.config import PipelineConfig
from spotlab.infra.kube.work_pool import base_job_template

TOKEN = "deploy-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEPLOYMENTS = deployments()
# Each single-stage flow's config is its section's model (the study section, a union of models, has no one $ref).
CONFIG_MODELS = {"pipeline": PipelineConfig} | {
    stage: section_type(stage) for stage in STAGE_FLOWS if isinstance(section_type(stage), type)}


def test_one_deployment_per_flow_imported_by_module_path():
    assert sorted(d.flow_name for d in DEPLOYMENTS) == sorted(FLOWS)
    for d in DEPLOYMENTS:
        assert d.name == "spotlab"
        assert d.entrypoint.startswith("spotlab.flows.") and ":" not in d.entrypoint and "/" not in d.entrypoint
        assert load_flow_from_entrypoint(d.entrypoint).name == d.flow_name
        assert d.description == FLOWS[d.flow_name].description


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d.entrypoint)
def test_entrypoint_parameters_are_the_flows_typed_by_the_models(deployment):
    flow = load_flow_from_entrypoint(deployment.entrypoint)
    schema = parameter_schema(flow).model_dump_for_openapi()
    assert schema == parameter_schema(FLOWS[flow.name]).model_dump_for_openapi()
    assert is_valid_schema(schema) is None
    model = CONFIG_MODELS.get(flow.name)
    if model is None:
        return
    assert schema["properties"]["config"]["$ref"] == f"#/definitions/{model.__name__}"
    parameters = {"config": model().model_dump(mode="json")}
    if flow.name != "pipeline":
        parameters["run"] = {"store_url": "s3://b/p", "run_id": "r"}
    validate(parameters, schema, raise_on_error=True)
    if "epochs" in model.model_fields or flow.name == "pipeline":
        bad = parameters | {"config": {"train": {"epochs": 0}} if flow.name == "pipeline" else {"epochs": 0}}
        with pytest.raises(Exception, match="epochs|minimum|0"):
            validate(bad, schema, raise_on_error=True)


def test_spotlab_deploy_registers_every_flow_and_the_api_starts_deployment_runs(prefect_api, tmp_path, live_server):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import PREFECT_API_URL

    from spotlab.infra.api import Launcher, create_app

    api_url = PREFECT_API_URL.value()
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="spotlab-test", type="kubernetes",
                                               base_job_template=base_job_template()))
    env = os.environ | {"PREFECT_API_URL": api_url}
    spotlab = str(Path(sys.executable).with_name("spotlab"))
    deployed = subprocess.run([spotlab, "deploy", "--pool", "spotlab-test", "--image", "spotlab:test",
                               "--max-concurrent-runs", "3"],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
    with get_client(sync_client=True) as client:
        for name in FLOWS:
            deployment = client.read_deployment_by_name(f"{name}/spotlab")
            assert deployment.work_pool_name == "spotlab-test"
            assert deployment.job_variables["image"] == "spotlab:test"
            assert deployment.global_concurrency_limit.limit == 3  # Prefect bounds the runs, not the API

    os.environ["PREFECT_API_URL"] = api_url
    try:
        with live_server(create_app(str(tmp_path), token=TOKEN, launcher=Launcher(max_waiting=1))) as http:
            config = {"name": "k8s-run", "execution": {"resources": {"train": {"gpus": 1, "memory": "8Gi"}}}}
            created = http.post("/runs", json={"flow": "pipeline", "config": config}, headers=AUTH).json()
            assert created["backend"] == "prefect-deployment"
            status = http.get(f"/runs/{created['id']}", headers=AUTH).json()
            assert status["state"] == "scheduled" and status["prefect_flow_run_id"]  # no worker in this test
            with get_client(sync_client=True) as client:
                flow_run = client.read_flow_run(status["prefect_flow_run_id"])
            assert flow_run.parameters["run_id"] == created["id"]
            assert flow_run.job_variables == {"gpu_limit": 1, "memory_request": "8Gi", "memory_limit": "8Gi"}
            # One run already waits for a worker: the deployment's queue is full.
            refused = http.post("/runs", json={"flow": "pipeline", "config": config}, headers=AUTH)
            assert refused.status_code == 429 and refused.headers["retry-after"]
            assert http.post(f"/runs/{created['id']}/cancel", headers=AUTH).json()["state"] == "cancelled"
            deadline = time.monotonic() + 30
            while http.get(f"/runs/{created['id']}", headers=AUTH).json()["state"] != "cancelled":
                assert time.monotonic() < deadline
                time.sleep(0.5)
    finally:
        del os.environ["PREFECT_API_URL"]
    assert httpx.get(api_url.rstrip("/") + "/health").status_code == 200
