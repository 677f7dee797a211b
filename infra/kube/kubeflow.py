"""``launcher: kubeflow``: multi-node training as a Kubeflow Trainer TrainJob (trainer.kubeflow.org/v1alpha1).

Backend torch references the torch runtime (Trainer's ``torch-distributed`` ClusterTrainingRuntime): Trainer sets
torchrun's ``PET_NNODES``/``PET_NPROC_PER_NODE``/``PET_NODE_RANK``/``PET_MASTER_ADDR`` on every node, so the
trainer command is plain ``python -m torch.distributed.run -m spotlab.tasks.distributed.worker ...``. Backend horovod
references an MPI runtime (``spotlab-horovod``, built by :func:`mpi_runtime`): Trainer writes the hostfile and SSH
keys, the launcher runs ``mpirun``, and Horovod joins through MPI. Both are TrainJobs rather than a separate
MPIJob so that one API group, one RBAC rule, one status and one gang-scheduling mechanism (the runtime's
``podGroupPolicy``, or Kueue) serve both backends; kubeflow-training's MPIJob v1 belongs to the Training Operator
that Trainer replaces.

Objects are built from the published API models (``kubeflow-trainer-api``), which validate them; what the pods
carry (placement, resources, shm, S3 env, hardened security contexts) reaches the runtime's pods through the
TrainJob's ``runtimePatches``. The launcher submits with CustomObjectsApi, polls the ``Complete``/``Failed``
conditions, and deletes the TrainJob when it ends, fails or is cancelled.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from kubeflow_trainer_api import models as kf
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
from spotlab.infra.kube.work_pool import (
    S3_SECRET_KEYS,
    hardened_container_security,
    non_root_pod_security,
    s3_env,
    scratch_volumes,
)

log = logging.getLogger("spotlab.kube")

GROUP, VERSION, PLURAL = "trainer.kubeflow.org", "v1alpha1", "trainjobs"
API_VERSION = f"{GROUP}/{VERSION}"
RUNTIMES = {"torch": "torch-distributed", "horovod": "spotlab-horovod"}
# The runtimes' replicated jobs; the trainer container is "node" in each (Trainer's convention).
REPLICATED_JOBS = {"torch": ("node",), "horovod": ("launcher", "node")}
CONTAINER = "node"
PATCH_MANAGER = "spotlab.dev/launcher"
JOB_LABEL = "spotlab.dev/distributed-job"
JOBSET_LABEL = "jobset.sigs.k8s.io/jobset-name"
# Horovod's MPI runtime: sshd on the nodes (non-root, so an unprivileged port), keys where Trainer mounts them.
SSH_PORT = 2222
SSH_AUTH_PATH = "/home/spotlab/.ssh"
SSHD_CONFIG = "/etc/ssh/spotlab_sshd_config"


def _serialise(model: Any) -> Any:
    return k8s.ApiClient().sanitize_for_serialization(model)


def trainer_command(spec: DistributedJobSpec) -> list[str]:
    if spec.backend == "horovod":
        # mpirun starts the remote ranks through ssh, which passes no container env: forward the S3 settings and
        # PATH (the image's Python environment).
        forwarded = [arg for key in ("PATH", *S3_SECRET_KEYS) for arg in ("-x", key)]
        return ["mpirun", "-np", str(spec.workers), *forwarded, "python", *worker_args(spec)]
    return ["python", "-m", "torch.distributed.run", *worker_args(spec)]


def _pod_patch(spec: DistributedJobSpec) -> kf.TrainerV1alpha1PodSpecPatch:
    placement = spec.placement
    volumes, mounts = scratch_volumes(placement.shm_size, placement.tmp_size)
    container = kf.TrainerV1alpha1ContainerPatch(
        name=CONTAINER,
        security_context=kf.IoK8sApiCoreV1SecurityContext.from_dict(_serialise(hardened_container_security())),
        volume_mounts=[kf.IoK8sApiCoreV1VolumeMount.from_dict(m) for m in _serialise(mounts)],
    )
    return kf.TrainerV1alpha1PodSpecPatch(
        containers=[container],
        node_selector=placement.node_selector or None,
        tolerations=[kf.IoK8sApiCoreV1Toleration.from_dict(t) for t in placement.tolerations] or None,
        image_pull_secrets=[kf.IoK8sApiCoreV1LocalObjectReference.from_dict(s)
                            for s in placement.image_pull_secrets] or None,
        service_account_name=placement.service_account,
        security_context=kf.IoK8sApiCoreV1PodSecurityContext.from_dict(_serialise(non_root_pod_security())),
        volumes=[kf.IoK8sApiCoreV1Volume.from_dict(v) for v in _serialise(volumes)],
    )


def train_job(spec: DistributedJobSpec) -> kf.TrainerV1alpha1TrainJob:
    """The TrainJob of ``spec`` (its backend picks the runtime), validated by the Trainer API models."""
    labels = {JOB_LABEL: spec.name}
    pod_patch = _pod_patch(spec)
    replicated = [
        kf.TrainerV1alpha1ReplicatedJobPatch(
            name=job,
            template=kf.TrainerV1alpha1JobTemplatePatch(spec=kf.TrainerV1alpha1JobSpecPatch(
                template=kf.TrainerV1alpha1PodTemplatePatch(
                    metadata=kf.IoK8sApimachineryPkgApisMetaV1ObjectMeta(labels=labels), spec=pod_patch,
                ),
            )),
        )
        for job in REPLICATED_JOBS[spec.backend]
    ]
    patch = kf.TrainerV1alpha1RuntimePatch(
        manager=PATCH_MANAGER,
        training_runtime_spec=kf.TrainerV1alpha1TrainingRuntimeSpecPatch(
            template=kf.TrainerV1alpha1JobSetTemplatePatch(
                spec=kf.TrainerV1alpha1JobSetSpecPatch(replicated_jobs=replicated)
            )
        ),
    )
    resources = node_resources(spec)
    trainer = kf.TrainerV1alpha1Trainer(
        image=spec.image,
        command=trainer_command(spec),
        env=[kf.IoK8sApiCoreV1EnvVar.from_dict(e) for e in _serialise(s3_env(spec.s3_secret))],
        num_nodes=spec.nodes,
        num_proc_per_node=spec.procs_per_node,
        resources_per_node=kf.IoK8sApiCoreV1ResourceRequirements.from_dict(resources) if resources else None,
    )
    return kf.TrainerV1alpha1TrainJob(
        api_version=API_VERSION,
        kind="TrainJob",
        metadata=kf.IoK8sApimachineryPkgApisMetaV1ObjectMeta(name=spec.name, namespace=spec.namespace, labels=labels),
        spec=kf.TrainerV1alpha1TrainJobSpec(
            runtime_ref=kf.TrainerV1alpha1RuntimeRef(
                api_group=GROUP, kind="ClusterTrainingRuntime", name=spec.runtime or RUNTIMES[spec.backend],
            ),
            trainer=trainer,
            active_deadline_seconds=spec.timeout_s,
            runtime_patches=[patch],
        ),
    )


def outcome(custom, spec: DistributedJobSpec) -> str | None:
    """"succeeded", why it failed, or None while it runs (the TrainJob's Complete and Failed conditions)."""
    body = custom.get_namespaced_custom_object(GROUP, VERSION, spec.namespace, PLURAL, spec.name)
    conditions = {c["type"]: c for c in (body.get("status") or {}).get("conditions") or []}
    if conditions.get("Failed", {}).get("status") == "True":
        failed = conditions["Failed"]
        return f"{failed.get('reason', 'Failed')}: {failed.get('message', '')}".rstrip(": ")
    if conditions.get("Complete", {}).get("status") == "True":
        return "succeeded"
    return None


def rank0_selector(spec: DistributedJobSpec) -> str:
    """Rank 0's pod: the first pod of the trainer's replicated job (torch: node 0; MPI: the launcher)."""
    trainer_job = "launcher" if spec.backend == "horovod" else "node"
    return (f"{JOBSET_LABEL}={spec.name},jobset.sigs.k8s.io/replicatedjob-name={trainer_job},"
            "batch.kubernetes.io/job-completion-index=0")


def run(apis: ClusterApis, spec: DistributedJobSpec) -> None:
    """Submit the TrainJob, wait for it, and delete it (also on failure or cancellation)."""
    body = train_job(spec).to_dict()
    log.info("launching TrainJob %s/%s on runtime %s: %d nodes × %d workers", spec.namespace, spec.name,
             body["spec"]["runtimeRef"]["name"], spec.nodes, spec.procs_per_node)
    apis.custom.create_namespaced_custom_object(GROUP, VERSION, spec.namespace, PLURAL, body)
    try:
        wait_for(
            f"TrainJob {spec.namespace}/{spec.name}",
            lambda: outcome(apis.custom, spec),
            lambda: stream_rank0_log(apis.core, spec.namespace, rank0_selector(spec), CONTAINER),
            spec.timeout_s,
        )
    finally:
        delete_quietly(apis.custom.delete_namespaced_custom_object, f"TrainJob {spec.name}", GROUP, VERSION,
                       spec.namespace, PLURAL, spec.name, propagation_policy="Foreground")


def mpi_runtime(
    image: str, name: str = RUNTIMES["horovod"], gang: str | None = None,
) -> kf.TrainerV1alpha1ClusterTrainingRuntime:
    """The ClusterTrainingRuntime horovod TrainJobs reference: OpenMPI, every node (the launcher too) runs ranks,
    nodes run sshd as the image's user on port 2222 from ``SSHD_CONFIG``. ``image`` must add OpenMPI, an SSH
    server with that config and Horovod built with MPI (``HOROVOD_WITH_MPI=1``) to the spotlab image; the images
    this project ships have none of them. ``gang``: "coscheduling" or "volcano" (the scheduler plugin installed)
    for all-or-nothing pod scheduling."""
    if gang not in (None, "coscheduling", "volcano"):
        raise ValueError(f"gang={gang!r}: choose 'coscheduling', 'volcano' or none")
    sshd = k8s.V1Container(
        name=CONTAINER, image=image, command=["/usr/sbin/sshd"], args=["-De", "-f", SSHD_CONFIG],
        ports=[k8s.V1ContainerPort(container_port=SSH_PORT, name="ssh")],
        readiness_probe=k8s.V1Probe(tcp_socket=k8s.V1TCPSocketAction(port=SSH_PORT), initial_delay_seconds=2),
        security_context=hardened_container_security(),
    )
    launcher = k8s.V1Container(name=CONTAINER, image=image, security_context=hardened_container_security())

    def replicated(job: str, container: k8s.V1Container, **extra) -> kf.JobsetV1alpha2ReplicatedJob:
        template = k8s.V1JobTemplateSpec(
            metadata=k8s.V1ObjectMeta(labels={"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"})
            if job == "launcher" else None,
            spec=k8s.V1JobSpec(template=k8s.V1PodTemplateSpec(spec=k8s.V1PodSpec(
                containers=[container], restart_policy="Never", security_context=non_root_pod_security(),
            ))),
        )
        return kf.JobsetV1alpha2ReplicatedJob(
            name=job, template=kf.IoK8sApiBatchV1JobTemplateSpec.from_dict(_serialise(template)), **extra,
        )

    policy = {"coscheduling": {"coscheduling": {"scheduleTimeoutSeconds": 300}}, "volcano": {"volcano": {}}}
    node_ready = kf.JobsetV1alpha2DependsOn(name="node", status="Ready")
    return kf.TrainerV1alpha1ClusterTrainingRuntime(
        api_version=API_VERSION,
        kind="ClusterTrainingRuntime",
        metadata=kf.IoK8sApimachineryPkgApisMetaV1ObjectMeta(name=name,
                                                             labels={"trainer.kubeflow.org/framework": "horovod"}),
        spec=kf.TrainerV1alpha1TrainingRuntimeSpec(
            ml_policy=kf.TrainerV1alpha1MLPolicy(
                num_nodes=1,
                mpi=kf.TrainerV1alpha1MPIMLPolicySource(
                    num_proc_per_node=1, mpi_implementation="OpenMPI", ssh_auth_mount_path=SSH_AUTH_PATH,
                    run_launcher_as_node=True,
                ),
            ),
            pod_group_policy=kf.TrainerV1alpha1PodGroupPolicy.from_dict(policy[gang]) if gang else None,
            template=kf.TrainerV1alpha1JobSetTemplateSpec(spec=kf.JobsetV1alpha2JobSetSpec(
                network=kf.JobsetV1alpha2Network(publish_not_ready_addresses=True),
                success_policy=kf.JobsetV1alpha2SuccessPolicy(operator="All", target_replicated_jobs=["launcher"]),
                replicated_jobs=[replicated("node", sshd), replicated("launcher", launcher, depends_on=[node_ready])],
            )),
        ),
    )


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Print the ClusterTrainingRuntime of horovod TrainJobs as JSON "
                                     "(kubectl apply -f -).")
    parser.add_argument("command", choices=["mpi-runtime"])
    parser.add_argument("--image", required=True, help="An MPI image: spotlab + OpenMPI + sshd + Horovod with MPI.")
    parser.add_argument("--name", default=RUNTIMES["horovod"],
                        help="Runtime name (train.distributed.kubeflow_runtime).")
    parser.add_argument("--gang", choices=["coscheduling", "volcano"], default=None,
                        help="Gang-schedule the pods with this scheduler plugin.")
    args = parser.parse_args(argv)
    runtime = mpi_runtime(args.image, args.name, args.gang)
    sys.stdout.write(json.dumps(runtime.to_dict(), indent=2) + "\n")


if __name__ == "__main__":
    main()
