"""``launcher: kubernetes``: multi-node training without an operator, an Indexed Job plus a headless Service.

The fallback for clusters without Kubeflow Trainer. Every pod runs torchrun with static rendezvous at pod 0
(``<job>-0.<service>:29400``, a DNS name that exists because the pods set ``subdomain`` to the headless Service,
which publishes not-ready addresses so the name resolves before pod 0 passes any probe). The node rank is the
pod's ``JOB_COMPLETION_INDEX`` (static rendezvous keeps it; c10d would reorder nodes by host name), and each pod
runs one worker per GPU it requests. ``backoffLimit: 0``: a failed rank fails the whole job instead of restarting
alone into a rendezvous nobody else joins.

No gang scheduling: the Job controller creates every pod at once and the scheduler places them one by one, so on a
busy cluster the pods that got GPUs hold them idle while the others stay Pending, until ``activeDeadlineSeconds``. Use
``launcher: kubeflow`` where Kubeflow Trainer (with a gang-scheduling plugin) is installed.
"""

from __future__ import annotations

import logging

from kubernetes import client as k8s

from spotlab.infra.kube.distributed import (
    ClusterApis,
    DistributedJobSpec,
    delete_quietly,
    node_resources,
    stream_rank0_log,
    wait_for,
    worker_args,
)
from spotlab.infra.kube.work_pool import hardened_container_security, non_root_pod_security, s3_env, scratch_volumes

log = logging.getLogger("spotlab.kube")

RDZV_PORT = 29400
CONTAINER = "worker"
JOB_LABEL = "spotlab.dev/distributed-job"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


def rendezvous_host(spec: DistributedJobSpec) -> str:
    """Pod 0's DNS name: ``<job>-<index>`` is its hostname, the headless Service (named as the job) its subdomain."""
    return f"{spec.name}-0.{spec.name}"


def worker_command(spec: DistributedJobSpec) -> list[str]:
    return [
        "python", "-m", "torch.distributed.run",
        f"--nnodes={spec.nodes}",
        f"--nproc-per-node={spec.procs_per_node}",
        "--node-rank=$(JOB_COMPLETION_INDEX)",
        "--rdzv-backend=static",
        f"--master-addr={rendezvous_host(spec)}",
        f"--master-port={RDZV_PORT}",
        *worker_args(spec),
    ]


def headless_service(spec: DistributedJobSpec) -> k8s.V1Service:
    return k8s.V1Service(
        api_version="v1",
        kind="Service",
        metadata=k8s.V1ObjectMeta(name=spec.name, namespace=spec.namespace, labels={JOB_LABEL: spec.name}),
        spec=k8s.V1ServiceSpec(
            cluster_ip="None",
            publish_not_ready_addresses=True,
            selector={JOB_LABEL: spec.name},
            ports=[k8s.V1ServicePort(name="rendezvous", port=RDZV_PORT, target_port=RDZV_PORT)],
        ),
    )


def indexed_job(spec: DistributedJobSpec) -> k8s.V1Job:
    placement = spec.placement
    volumes, mounts = scratch_volumes(placement.shm_size, placement.tmp_size)
    # Declared explicitly (the Job controller also injects it) so the $(JOB_COMPLETION_INDEX) reference in the
    # args expands from this container's own env.
    index_env = k8s.V1EnvVar(
        name="JOB_COMPLETION_INDEX",
        value_from=k8s.V1EnvVarSource(
            field_ref=k8s.V1ObjectFieldSelector(field_path=f"metadata.annotations['{INDEX_ANNOTATION}']")
        ),
    )
    command = worker_command(spec)
    container = k8s.V1Container(
        name=CONTAINER,
        image=spec.image,
        command=command[:1],
        args=command[1:],
        env=[index_env, *s3_env(spec.s3_secret)],
        ports=[k8s.V1ContainerPort(container_port=RDZV_PORT, name="rendezvous")],
        resources=k8s.V1ResourceRequirements(**node_resources(spec)),
        security_context=hardened_container_security(),
        volume_mounts=mounts,
    )
    labels = {JOB_LABEL: spec.name}
    pod = k8s.V1PodTemplateSpec(
        metadata=k8s.V1ObjectMeta(labels=labels),
        spec=k8s.V1PodSpec(
            containers=[container],
            restart_policy="Never",
            subdomain=spec.name,
            security_context=non_root_pod_security(),
            volumes=volumes,
            node_selector=placement.node_selector or None,
            tolerations=placement.tolerations or None,
            image_pull_secrets=placement.image_pull_secrets or None,
            # The account's cloud identity (e.g. an S3 role) applies; the workers never call the Kubernetes API.
            service_account_name=placement.service_account,
            automount_service_account_token=False,
        ),
    )
    return k8s.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=k8s.V1ObjectMeta(name=spec.name, namespace=spec.namespace, labels=labels),
        spec=k8s.V1JobSpec(
            completion_mode="Indexed",
            completions=spec.nodes,
            parallelism=spec.nodes,
            backoff_limit=0,
            active_deadline_seconds=spec.timeout_s,
            ttl_seconds_after_finished=600,
            template=pod,
        ),
    )


def outcome(batch, spec: DistributedJobSpec) -> str | None:
    status = batch.read_namespaced_job_status(spec.name, spec.namespace).status
    if status.succeeded and status.succeeded >= spec.nodes:
        return "succeeded"
    if status.failed:
        return f"{status.failed} pod(s) failed"
    return None


def run(apis: ClusterApis, spec: DistributedJobSpec) -> None:
    """Create the Service and the Job, wait for the job, and delete both (also on failure or cancellation)."""
    log.info("launching Indexed Job %s/%s: %d pods × %d workers (rendezvous %s:%d)", spec.namespace, spec.name,
             spec.nodes, spec.procs_per_node, rendezvous_host(spec), RDZV_PORT)
    apis.core.create_namespaced_service(spec.namespace, headless_service(spec))
    try:
        apis.batch.create_namespaced_job(spec.namespace, indexed_job(spec))
        wait_for(
            f"distributed job {spec.namespace}/{spec.name}",
            lambda: outcome(apis.batch, spec),
            lambda: stream_rank0_log(apis.core, spec.namespace, f"{JOB_LABEL}={spec.name},{INDEX_ANNOTATION}=0",
                                     CONTAINER),
            spec.timeout_s,
        )
    finally:
        delete_quietly(apis.batch.delete_namespaced_job, f"job {spec.name}", spec.name, spec.namespace,
                       propagation_policy="Background")
        delete_quietly(apis.core.delete_namespaced_service, f"service {spec.name}", spec.name, spec.namespace)
