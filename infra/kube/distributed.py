"""Multi-node training on Kubernetes: what every launcher shares, and the entry point the train stage calls.

Two launchers build on this module: ``kubeflow`` (a Kubeflow Trainer TrainJob, :mod:`spotlab.infra.kube.kubeflow`)
and ``kubernetes`` (an Indexed Job plus a headless Service, :mod:`spotlab.infra.kube.indexed_job`, the fallback
for clusters without Kubeflow). Both start ``nodes`` pods of ``procs_per_node`` workers each (one per GPU); the
workers read their spec from, and rank 0 writes the stage result to, the artifact store.

Pods sit where the stage pod that launches them sits: its node selector, tolerations, image pull secrets,
ServiceAccount and /dev/shm size come from the work pool (the chart's ``jobs:`` values or a deployment's job
variables), so :func:`placement_of` copies them from that pod; their size (GPUs, CPU, memory per pod) is the
train config's. S3 settings come from the same Secret the stage jobs read.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kubernetes import client as k8s

from spotlab.infra.identity import digest
from spotlab.infra.kube.work_pool import IMAGE_ENV, NAMESPACE_ENV, S3_SECRET_ENV

log = logging.getLogger("spotlab.kube")

WORKER_MODULE = "spotlab.tasks.distributed.worker"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class DistributedJobError(RuntimeError):
    """The distributed job failed, timed out, or could not be created."""


@dataclass(frozen=True)
class Placement:
    """Where the pods run and what they mount, as serialised Kubernetes fields (camelCase dicts), so both the core
    models and the Trainer API models load them."""

    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    image_pull_secrets: list[dict[str, str]] = field(default_factory=list)
    service_account: str | None = None
    shm_size: str = "1Gi"
    tmp_size: str = "4Gi"


def placement_of(pod: k8s.V1Pod) -> Placement:
    """The placement of the stage pod ``pod`` (as the work pool made it), for the pods it launches."""
    serialise = k8s.ApiClient().sanitize_for_serialization
    spec = pod.spec
    sizes = {v.name: v.empty_dir.size_limit for v in spec.volumes or [] if v.empty_dir and v.empty_dir.size_limit}
    defaults = Placement()
    return Placement(
        node_selector=dict(spec.node_selector or {}),
        tolerations=serialise(spec.tolerations or []),
        image_pull_secrets=serialise(spec.image_pull_secrets or []),
        service_account=spec.service_account_name,
        shm_size=sizes.get("dshm", defaults.shm_size),
        tmp_size=sizes.get("tmp", defaults.tmp_size),
    )


@dataclass(frozen=True)
class DistributedJobSpec:
    """Everything the manifests depend on (pure data, so the manifests are pure functions of it)."""

    name: str
    namespace: str
    image: str
    store_url: str
    endpoint_url: str | None
    spec_key: str
    nodes: int
    gpus_per_node: int = 0
    cpu_per_node: str | None = None
    memory_per_node: str | None = None
    backend: str = "torch"
    runtime: str | None = None
    timeout_s: int = 3600
    s3_secret: str = "spotlab-s3"
    placement: Placement = field(default_factory=Placement)

    @property
    def procs_per_node(self) -> int:
        return self.gpus_per_node or 1

    @property
    def workers(self) -> int:
        return self.nodes * self.procs_per_node


def job_name(run_id: str, spec_key: str) -> str:
    """A DNS-1035 label (Service names must start with a letter) unique to this run and spec, ≤ 40 characters so
    the pods' hostnames ``<job>-<index>`` stay valid labels."""
    stem = re.sub(r"[^a-z0-9]+", "-", run_id.lower()).strip("-")[:24].strip("-")
    return f"sl-{stem}-{digest(run_id, spec_key)[:8]}"


def worker_args(spec: DistributedJobSpec) -> list[str]:
    """``-m spotlab.tasks.distributed.worker`` and its arguments, after the launcher's own."""
    args = ["-m", WORKER_MODULE, "--store", spec.store_url]
    if spec.endpoint_url:
        args += ["--endpoint-url", spec.endpoint_url]
    return args + ["--spec", spec.spec_key]


def node_resources(spec: DistributedJobSpec) -> dict[str, dict[str, str]]:
    """Requests equal to limits (GPUs are extended resources, whose request must equal their limit)."""
    amounts = {"nvidia.com/gpu": str(spec.gpus_per_node) if spec.gpus_per_node else None,
               "cpu": spec.cpu_per_node, "memory": spec.memory_per_node}
    given = {name: amount for name, amount in amounts.items() if amount is not None}
    return {"requests": given, "limits": dict(given)} if given else {}


@dataclass
class ClusterApis:
    """The Kubernetes API clients the launchers call (tests inject recording stand-ins)."""

    batch: Any
    core: Any
    custom: Any
    in_cluster: bool


def cluster_apis() -> ClusterApis:
    from kubernetes import config

    try:
        config.load_incluster_config()
        in_cluster = True
    except config.ConfigException:
        config.load_kube_config()
        in_cluster = False
    return ClusterApis(k8s.BatchV1Api(), k8s.CoreV1Api(), k8s.CustomObjectsApi(), in_cluster)


def default_namespace() -> str:
    if os.environ.get(NAMESPACE_ENV):
        return os.environ[NAMESPACE_ENV]
    if SERVICE_ACCOUNT_NAMESPACE.is_file():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    return "default"


def own_placement(apis: ClusterApis, namespace: str) -> Placement:
    """The placement of the pod this code runs in (its name is its hostname); outside a cluster, the defaults."""
    if not apis.in_cluster:
        log.info("not running in a pod: the distributed job's pods get no node selector, tolerations or pull secrets")
        return Placement()
    return placement_of(apis.core.read_namespaced_pod(socket.gethostname(), namespace))


def stream_rank0_log(core, namespace: str, selector: str, container: str) -> bool:
    """Follow the log of rank 0's pod (the one ``selector`` matches) once it runs; False while it does not yet."""
    pods = core.list_namespaced_pod(namespace, label_selector=selector)
    pod = next((p.metadata.name for p in pods.items if p.status and p.status.phase in ("Running", "Succeeded",
                                                                                       "Failed")), None)
    if pod is None:
        return False
    response = core.read_namespaced_pod_log(pod, namespace, container=container, follow=True, _preload_content=False)
    try:
        for line in response:  # one log line at a time, as the pod writes them
            log.info("[rank 0] %s", line.decode(errors="replace").rstrip())
    finally:
        response.release_conn()
    return True


def wait_for(
    describe: str, outcome: Callable[[], str | None], stream_log: Callable[[], bool], timeout_s: int,
    poll_s: float = 2.0,
) -> None:
    """Poll ``outcome`` (None while running, "succeeded", or why it failed) until the job ends, streaming rank 0's
    log once its pod runs; raise if it fails or outlives ``timeout_s`` (plus a minute for the controller)."""
    deadline = time.monotonic() + timeout_s + 60
    streamed = False
    while time.monotonic() < deadline:
        result = outcome()
        if result == "succeeded":
            return
        if result is not None:
            raise DistributedJobError(f"{describe}: {result}")
        if not streamed and stream_log():  # returns when rank 0's container exits
            streamed = True
            continue
        time.sleep(poll_s)
    raise DistributedJobError(f"{describe} still running after {timeout_s}s")


def run_distributed_job(
    *,
    launcher: str,
    run_id: str,
    store_url: str,
    endpoint_url: str | None,
    spec_key: str,
    nodes: int,
    gpus_per_node: int = 0,
    cpu_per_node: str | None = None,
    memory_per_node: str | None = None,
    backend: str = "torch",
    runtime: str | None = None,
    image: str | None = None,
    namespace: str | None = None,
    timeout_s: int = 3600,
    apis: ClusterApis | None = None,
) -> None:
    """Run ``spotlab.tasks.distributed.worker`` on ``nodes`` pods of ``gpus_per_node`` workers each (one on CPU pods)
    with ``launcher`` ("kubeflow" or "kubernetes"); return when all succeeded, delete the job in every case."""
    from spotlab.infra.kube import indexed_job, kubeflow

    launchers = {"kubeflow": kubeflow.run, "kubernetes": indexed_job.run}
    if launcher not in launchers:
        raise ValueError(f"launcher={launcher!r} is not a cluster launcher; choose one of {sorted(launchers)}")
    if nodes < 1:
        raise ValueError(f"nodes={nodes}: need at least one pod")
    if gpus_per_node < 0:
        raise ValueError(f"gpus_per_node={gpus_per_node}: must be >= 0")
    if backend == "horovod" and launcher != "kubeflow":
        raise ValueError("backend 'horovod' needs launcher 'kubeflow' (an MPI TrainJob); the Indexed Job runs torchrun")
    image = image or os.environ.get(IMAGE_ENV)
    if not image:
        raise ValueError(f"no image for the distributed job: pass image= or set ${IMAGE_ENV}")
    apis = apis or cluster_apis()
    namespace = namespace or default_namespace()
    spec = DistributedJobSpec(
        name=job_name(run_id, spec_key), namespace=namespace, image=image, store_url=store_url,
        endpoint_url=endpoint_url, spec_key=spec_key, nodes=nodes, gpus_per_node=gpus_per_node,
        cpu_per_node=cpu_per_node, memory_per_node=memory_per_node, backend=backend, runtime=runtime,
        timeout_s=timeout_s, s3_secret=os.environ.get(S3_SECRET_ENV, "spotlab-s3"),
        placement=own_placement(apis, namespace),
    )
    launchers[launcher](apis, spec)


def delete_quietly(delete: Callable[..., Any], what: str, *args, **options) -> None:
    """Clean up without hiding the error that got us here: an object that is already gone is fine."""
    from kubernetes.client.exceptions import ApiException

    try:
        delete(*args, **options)
    except ApiException as exc:
        if exc.status != 404:
            log.warning("could not delete %s: %s", what, exc.reason)
