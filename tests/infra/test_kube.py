"""The work-pool template through prefect-kubernetes' own rendering, validated against the Kubernetes OpenAPI schema
(strict). The distributed launchers' objects are tested in test_launchers.py."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import kubernetes_validate
import pytest
from prefect.client.schemas.objects import FlowRun
from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

from spotlab.infra.config import PipelineConfig
from spotlab.infra.kube.resources import StageResources, job_variables
from spotlab.infra.kube.work_pool import base_job_template, render_json

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "helm" / "spotlab" / "files" / "base-job-template.json"

K8S_VERSION = "1.35.0"


def validate(manifest: dict) -> None:
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def rendered_job(values: dict) -> dict:
    """The Job a Prefect kubernetes worker would create for a flow run with these job variables."""
    # client=object(): the template holds no block references, so no Prefect API is consulted.
    config = asyncio.run(
        KubernetesWorkerJobConfiguration.from_template_and_values(base_job_template(), values, client=object())
    )
    config.prepare_for_flow_run(FlowRun(id=uuid.uuid4(), name="calm-otter", flow_id=uuid.uuid4()))
    manifest = config.job_manifest
    # prefect-kubernetes insists on these two keys inside the pod spec (see spotlab.infra.kube.work_pool); the API
    # server drops them as unknown fields, so they are removed before the strict schema check.
    pod = manifest["spec"]["template"]["spec"]
    assert pod.pop("parallelism") == 1 and pod.pop("completions") == 1
    return manifest


def test_checked_in_template_matches_the_code():
    assert TEMPLATE_PATH.read_text() == render_json(), f"run: python -m spotlab.infra.kube.work_pool {TEMPLATE_PATH}"


def test_default_job_variables_render_a_valid_cpu_job():
    job = rendered_job({"image": "spotlab:test"})
    validate(job)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "spotlab:test"
    assert container["command"] == ["/usr/bin/env"] and container["args"][:2] == ["prefect", "flow-run"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 0}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]


def test_gpu_job_variables_reach_the_job():
    tolerations = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    job = rendered_job({
        "image": "spotlab:cuda", "gpu_limit": 2, "node_selector": {"pool": "gpu"}, "tolerations": tolerations,
        "service_account_name": "spotlab-jobs", "backoff_limit": 1, "finished_job_ttl": 300,
        "cpu_request": "4", "memory_limit": "16Gi", "shm_size": "8Gi", "s3_secret_name": "my-s3",
    })
    validate(job)
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert spec["backoffLimit"] == 1 and spec["ttlSecondsAfterFinished"] == 300
    assert container["resources"] == {"limits": {"memory": "16Gi", "nvidia.com/gpu": 2}, "requests": {"cpu": "4"}}
    assert pod["nodeSelector"] == {"pool": "gpu"} and pod["tolerations"] == tolerations
    assert pod["serviceAccountName"] == "spotlab-jobs"
    assert next(v for v in pod["volumes"] if v["name"] == "dshm")["emptyDir"]["sizeLimit"] == "8Gi"


def test_image_pull_secrets_reach_the_job_pod():
    job = rendered_job({"image": "registry.example.com/spotlab:1", "image_pull_secrets": [{"name": "regcred"}]})
    validate(job)
    assert job["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert not rendered_job({"image": "spotlab:test"})["spec"]["template"]["spec"].get("imagePullSecrets")


def test_s3_credentials_come_from_the_secret_never_literals():
    job = rendered_job({"image": "spotlab:test", "s3_secret_name": "my-s3", "namespace": "ml"})
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    # The pod can launch a distributed job with its own image, namespace and S3 Secret.
    assert {k: env[k]["value"] for k in ("SPOTLAB_IMAGE", "SPOTLAB_NAMESPACE", "SPOTLAB_S3_SECRET")} == {
        "SPOTLAB_IMAGE": "spotlab:test", "SPOTLAB_NAMESPACE": "ml", "SPOTLAB_S3_SECRET": "my-s3"}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        assert "value" not in env[key]
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "my-s3", "key": key, "optional": True}


def test_stage_resources_in_the_typed_config_become_job_variables():
    config = PipelineConfig.model_validate({"execution": {"resources": {"train": {"gpus": 1, "memory": "8Gi"}}}})
    variables = job_variables(config.execution.resources["train"])
    assert variables == {"gpu_limit": 1, "memory_request": "8Gi", "memory_limit": "8Gi"}
    job = rendered_job({"image": "spotlab:cuda", **variables})
    validate(job)
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert job_variables(StageResources()) == {"gpu_limit": 0}


@pytest.mark.parametrize("bad", [{"gpus": -1}, {"memory": "lots"}, {"cpu": "2 cores"}, {"gpu": 1}])
def test_bad_stage_resources_are_rejected(bad):
    with pytest.raises(ValueError):
        PipelineConfig.model_validate({"execution": {"resources": {"train": bad}}})


def test_template_variables_document_every_spotlab_field():
    properties = json.loads(render_json())["variables"]["properties"]
    for name in ("gpu_limit", "node_selector", "tolerations", "shm_size", "s3_secret_name", "service_account_name",
                 "backoff_limit", "finished_job_ttl", "cpu_request", "memory_limit"):
        assert properties[name].get("description"), name
