"""Kubernetes manifests: the work-pool template through prefect-kubernetes' own rendering, the distributed
launcher's Indexed Job + headless Service, all validated against the Kubernetes OpenAPI schemas (strict)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from types import SimpleNamespace

import kubernetes_validate
import pytest
from kubernetes import client as k8s
from prefect.client.schemas.objects import FlowRun
from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

from spotlab.infra.config import PipelineConfig
from spotlab.infra.kube import distributed
from spotlab.infra.kube.distributed import DistributedJobSpec, headless_service, indexed_job, job_name, worker_command
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


SPEC = DistributedJobSpec(
    name=job_name("20261126-160400.123-abc123", "runs/20261126-160400.123-abc123/train/spec.json"),
    namespace="ml", image="spotlab:cuda", store_url="s3://bucket/exp", endpoint_url="http://s3.local:9000",
    spec_key="runs/20261126-160400.123-abc123/train/spec.json", workers=3, gpus_per_worker=2, timeout_s=900,
)


def as_dict(model) -> dict:
    return k8s.ApiClient().sanitize_for_serialization(model)


def test_job_names_are_dns_labels_unique_per_spec():
    name = job_name("20261126-160400.123-ABC123", "a")
    assert name[0].isalpha() and len(name) <= 40 and name == name.lower() and "." not in name
    assert job_name("20261126-160400.123-ABC123", "b") != name


def test_indexed_job_golden_fields():
    job = as_dict(indexed_job(SPEC))
    validate(job)
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 3)
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] == 900
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == SPEC.service and pod["restartPolicy"] == "Never"
    container = pod["containers"][0]
    assert container["command"] + container["args"] == [
        "python", "-m", "torch.distributed.run", "--nnodes=3", "--nproc-per-node=1",
        "--node-rank=$(JOB_COMPLETION_INDEX)", "--rdzv-backend=c10d",
        f"--rdzv-endpoint={SPEC.name}-0.{SPEC.name}:29400",
        "-m", "spotlab.tasks.distributed.worker", "--store", "s3://bucket/exp", "--endpoint-url", "http://s3.local:9000",
        "--spec", SPEC.spec_key,
    ]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    index = container["env"][0]
    assert index["name"] == "JOB_COMPLETION_INDEX"
    assert "job-completion-index" in index["valueFrom"]["fieldRef"]["fieldPath"]
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_cpu_job_without_endpoint_has_no_gpu_limit():
    spec = DistributedJobSpec(**{**SPEC.__dict__, "gpus_per_worker": 0, "endpoint_url": None})
    job = as_dict(indexed_job(spec))
    validate(job)
    assert "--endpoint-url" not in worker_command(spec)
    assert "limits" not in job["spec"]["template"]["spec"]["containers"][0]["resources"]


def test_headless_service_golden_fields():
    service = as_dict(headless_service(SPEC))
    validate(service)
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["ports"][0]["port"] == 29400
    job_labels = as_dict(indexed_job(SPEC))["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= job_labels.items()


class FakeCluster:
    """Records what the launcher asks of the API; the job runs for one poll, then meets its fate."""

    def __init__(self, fate: str):
        self.fate, self.calls, self.polls = fate, [], 0

    # BatchV1Api
    def create_namespaced_job(self, namespace, body):
        self.calls.append(("create job", namespace, body.metadata.name))

    def read_namespaced_job_status(self, name, namespace):
        self.polls += 1
        status = {} if self.polls == 1 else {"ok": dict(succeeded=3), "failed": dict(failed=1)}[self.fate]
        return SimpleNamespace(status=SimpleNamespace(**{"succeeded": None, "failed": None, **status}))

    def list_namespaced_pod(self, namespace, label_selector):
        assert "batch.kubernetes.io/job-completion-index=0" in label_selector
        pod = SimpleNamespace(metadata=SimpleNamespace(name="rank0-pod"), status=SimpleNamespace(phase="Running"))
        return SimpleNamespace(items=[pod])

    def read_namespaced_pod_log(self, name, namespace, container, follow, _preload_content):
        assert (name, container, follow, _preload_content) == ("rank0-pod", "worker", True, False)
        self.calls.append(("stream log", namespace, name))
        return FakeLogStream([b"epoch 1 loss 0.9\n", b"epoch 2 loss 0.5\n"])

    def delete_namespaced_job(self, name, namespace, **options):
        self.calls.append(("delete job", namespace, name))

    # CoreV1Api
    def create_namespaced_service(self, namespace, body):
        self.calls.append(("create service", namespace, body.metadata.name))

    def delete_namespaced_service(self, name, namespace):
        self.calls.append(("delete service", namespace, name))


class FakeLogStream(list):
    released = False

    def release_conn(self):
        self.released = True


@pytest.mark.parametrize("fate", ["ok", "failed"])
def test_launcher_creates_waits_and_always_cleans_up(monkeypatch, caplog, fate):
    caplog.set_level("INFO", logger="spotlab.kube")
    monkeypatch.setattr(distributed.time, "sleep", lambda s: None)
    cluster = FakeCluster(fate)
    monkeypatch.setattr(distributed, "_apis", lambda: (cluster, cluster))
    kwargs = dict(run_id="r1", store_url="s3://b/p", endpoint_url=None, spec_key="runs/r1/train/spec.json",
                  workers=3, image="spotlab:test", namespace="ml")
    if fate == "ok":
        distributed.run_distributed_job(**kwargs)
    else:
        with pytest.raises(distributed.DistributedJobError, match="failed"):
            distributed.run_distributed_job(**kwargs)
    name = job_name("r1", "runs/r1/train/spec.json")
    assert [c[0] for c in cluster.calls] == ["create service", "create job", "stream log", "delete job",
                                             "delete service"]
    assert {c[2] for c in cluster.calls} == {name, "rank0-pod"}
    assert "[rank 0] epoch 2 loss 0.5" in caplog.messages


def test_launcher_refuses_bad_arguments(monkeypatch):
    monkeypatch.delenv("SPOTLAB_IMAGE", raising=False)
    common = dict(run_id="r", store_url="s3://b", endpoint_url=None, spec_key="k")
    with pytest.raises(ValueError, match="workers"):
        distributed.run_distributed_job(**common, workers=0, image="x")
    with pytest.raises(ValueError, match="SPOTLAB_IMAGE"):
        distributed.run_distributed_job(**common, workers=2)


def test_template_variables_document_every_spotlab_field():
    properties = json.loads(render_json())["variables"]["properties"]
    for name in ("gpu_limit", "node_selector", "tolerations", "shm_size", "s3_secret_name", "service_account_name",
                 "backoff_limit", "finished_job_ttl", "cpu_request", "memory_limit"):
        assert properties[name].get("description"), name
