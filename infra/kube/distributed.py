"""Multi-node training on Kubernetes without an operator: an Indexed Job plus a headless Service.

Every pod runs torchrun with c10d rendezvous at pod 0 (``<job>-0.<service>:29400``, a DNS name that exists
because the pods set ``subdomain`` to the headless Service, which publishes not-ready addresses so the name
resolves before pod 0 passes any probe). ``backoffLimit: 0``: a failed rank fails the whole job instead of
restarting alone into a rendezvous nobody else joins. The launcher waits, streams rank 0's log, and deletes
both objects; the workers read their spec from and write their results to the artifact store.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client as k8s

from spotlab.infra.identity import digest
from spotlab.infra.kube.work_pool import (
    IMAGE_ENV,
    NAMESPACE_ENV,
    S3_SECRET_ENV,
    hardened_container_security,
    non_root_pod_security,
    s3_env,
    scratch_volumes,
)

log = logging.getLogger("spotlab.kube")

RDZV_PORT = 29400
CONTAINER = "worker"
JOB_LABEL = "spotlab.dev/distributed-job"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class DistributedJobError(RuntimeError):
    """The distributed job failed, timed out, or could not be created."""


@dataclass(frozen=True)
class DistributedJobSpec:
    """Everything the manifests depend on (pure data, so the manifests are pure functions of it)."""

    name: str
    namespace: str
    image: str
    store_url: str
    endpoint_url: str | None
    spec_key: str
    workers: int
    gpus_per_worker: int = 0
    timeout_s: int = 3600
    s3_secret: str = "spotlab-s3"
    shm_size: str = "2Gi"

    @property
    def service(self) -> str:
        return self.name

    @property
    def rendezvous(self) -> str:
        return f"{self.name}-0.{self.service}:{RDZV_PORT}"


def job_name(run_id: str, spec_key: str) -> str:
    """A DNS-1035 label (Service names must start with a letter) unique to this run and spec, ≤ 40 characters so
    the pods' hostnames ``<job>-<index>`` stay valid labels."""
    stem = re.sub(r"[^a-z0-9]+", "-", run_id.lower()).strip("-")[:24].strip("-")
    return f"sl-{stem}-{digest(run_id, spec_key)[:8]}"


def worker_command(spec: DistributedJobSpec) -> list[str]:
    command = [
        "python", "-m", "torch.distributed.run",
        f"--nnodes={spec.workers}",
        "--nproc-per-node=1",
        "--node-rank=$(JOB_COMPLETION_INDEX)",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={spec.rendezvous}",
        "-m", "spotlab.tasks.distributed.worker",
        "--store", spec.store_url,
    ]
    if spec.endpoint_url:
        command += ["--endpoint-url", spec.endpoint_url]
    return command + ["--spec", spec.spec_key]


def headless_service(spec: DistributedJobSpec) -> k8s.V1Service:
    return k8s.V1Service(
        api_version="v1",
        kind="Service",
        metadata=k8s.V1ObjectMeta(name=spec.service, namespace=spec.namespace, labels={JOB_LABEL: spec.name}),
        spec=k8s.V1ServiceSpec(
            cluster_ip="None",
            publish_not_ready_addresses=True,
            selector={JOB_LABEL: spec.name},
            ports=[k8s.V1ServicePort(name="rendezvous", port=RDZV_PORT, target_port=RDZV_PORT)],
        ),
    )


def indexed_job(spec: DistributedJobSpec) -> k8s.V1Job:
    volumes, mounts = scratch_volumes(spec.shm_size, "4Gi")
    gpus = {"nvidia.com/gpu": str(spec.gpus_per_worker)} if spec.gpus_per_worker else None
    # Declared explicitly (the Job controller also injects it) so the $(JOB_COMPLETION_INDEX) reference in the
    # args expands from this container's own env.
    index_env = k8s.V1EnvVar(
        name="JOB_COMPLETION_INDEX",
        value_from=k8s.V1EnvVarSource(
            field_ref=k8s.V1ObjectFieldSelector(field_path=f"metadata.annotations['{INDEX_ANNOTATION}']")
        ),
    )
    container = k8s.V1Container(
        name=CONTAINER,
        image=spec.image,
        command=worker_command(spec)[:1],
        args=worker_command(spec)[1:],
        env=[index_env, *s3_env(spec.s3_secret)],
        ports=[k8s.V1ContainerPort(container_port=RDZV_PORT, name="rendezvous")],
        resources=k8s.V1ResourceRequirements(limits=gpus),
        security_context=hardened_container_security(),
        volume_mounts=mounts,
    )
    labels = {JOB_LABEL: spec.name}
    pod = k8s.V1PodTemplateSpec(
        metadata=k8s.V1ObjectMeta(labels=labels),
        spec=k8s.V1PodSpec(
            containers=[container],
            restart_policy="Never",
            subdomain=spec.service,
            security_context=non_root_pod_security(),
            volumes=volumes,
        ),
    )
    return k8s.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=k8s.V1ObjectMeta(name=spec.name, namespace=spec.namespace, labels=labels),
        spec=k8s.V1JobSpec(
            completion_mode="Indexed",
            completions=spec.workers,
            parallelism=spec.workers,
            backoff_limit=0,
            active_deadline_seconds=spec.timeout_s,
            ttl_seconds_after_finished=600,
            template=pod,
        ),
    )


def default_namespace() -> str:
    if os.environ.get(NAMESPACE_ENV):
        return os.environ[NAMESPACE_ENV]
    if SERVICE_ACCOUNT_NAMESPACE.is_file():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    return "default"


def _apis() -> tuple[k8s.BatchV1Api, k8s.CoreV1Api]:
    from kubernetes import config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return k8s.BatchV1Api(), k8s.CoreV1Api()


def _rank0_pod(core: k8s.CoreV1Api, spec: DistributedJobSpec) -> str | None:
    pods = core.list_namespaced_pod(
        spec.namespace, label_selector=f"{JOB_LABEL}={spec.name},batch.kubernetes.io/job-completion-index=0"
    )
    for pod in pods.items:
        if pod.status and pod.status.phase in ("Running", "Succeeded", "Failed"):
            return pod.metadata.name
    return None


def _stream_logs(core: k8s.CoreV1Api, spec: DistributedJobSpec, pod: str) -> None:
    response = core.read_namespaced_pod_log(pod, spec.namespace, container=CONTAINER, follow=True,
                                            _preload_content=False)
    try:
        for line in response:  # one log line at a time, as the pod writes them
            log.info("[rank 0] %s", line.decode(errors="replace").rstrip())
    finally:
        response.release_conn()


def wait_for(batch: k8s.BatchV1Api, core: k8s.CoreV1Api, spec: DistributedJobSpec, poll_s: float = 2.0) -> None:
    """Block until the job succeeds (streaming rank 0's log once its pod runs); raise if it fails or times out."""
    deadline = time.monotonic() + spec.timeout_s + 60
    streamed = False
    while time.monotonic() < deadline:
        status = batch.read_namespaced_job_status(spec.name, spec.namespace).status
        if status.succeeded and status.succeeded >= spec.workers:
            return
        if status.failed:
            raise DistributedJobError(f"distributed job {spec.namespace}/{spec.name}: {status.failed} pod(s) failed")
        if not streamed and (pod := _rank0_pod(core, spec)) is not None:
            _stream_logs(core, spec, pod)  # returns when rank 0's container exits
            streamed = True
            continue
        time.sleep(poll_s)
    raise DistributedJobError(f"distributed job {spec.namespace}/{spec.name} still running after {spec.timeout_s}s")


def run_distributed_job(
    *,
    run_id: str,
    store_url: str,
    endpoint_url: str | None,
    spec_key: str,
    workers: int,
    gpus_per_worker: int = 0,
    image: str | None = None,
    namespace: str | None = None,
    timeout_s: int = 3600,
) -> None:
    """Run ``spotlab.tasks.distributed.worker`` on ``workers`` pods (one process each) and return when all succeeded."""
    if workers < 1:
        raise ValueError(f"workers={workers}: need at least one worker")
    if gpus_per_worker < 0:
        raise ValueError(f"gpus_per_worker={gpus_per_worker}: must be >= 0")
    image = image or os.environ.get(IMAGE_ENV)
    if not image:
        raise ValueError(f"no image for the distributed job: pass image= or set ${IMAGE_ENV}")
    spec = DistributedJobSpec(
        name=job_name(run_id, spec_key),
        namespace=namespace or default_namespace(),
        image=image,
        store_url=store_url,
        endpoint_url=endpoint_url,
        spec_key=spec_key,
        workers=workers,
        gpus_per_worker=gpus_per_worker,
        timeout_s=timeout_s,
        s3_secret=os.environ.get(S3_SECRET_ENV, "spotlab-s3"),
    )
    batch, core = _apis()
    log.info("launching %d-worker job %s/%s (rendezvous %s)", workers, spec.namespace, spec.name, spec.rendezvous)
    core.create_namespaced_service(spec.namespace, headless_service(spec))
    try:
        batch.create_namespaced_job(spec.namespace, indexed_job(spec))
        wait_for(batch, core, spec)
    finally:
        _delete(batch.delete_namespaced_job, spec, propagation_policy="Background")
        _delete(core.delete_namespaced_service, spec)


def _delete(delete, spec: DistributedJobSpec, **options) -> None:
    """Clean up without hiding the error that got us here: an object that is already gone is fine."""
    from kubernetes.client.exceptions import ApiException

    try:
        delete(spec.name, spec.namespace, **options)
    except ApiException as exc:
        if exc.status != 404:
            log.warning("could not delete %s/%s: %s", spec.namespace, spec.name, exc.reason)
