"""The spotlab Prefect **kubernetes** work-pool base job template, built from the kubernetes client models.

It extends prefect-kubernetes' default template with what stage jobs need: ``gpu_limit`` (nvidia.com/gpu),
``node_selector``, ``tolerations``, ``image_pull_secrets``, a RAM-backed ``/dev/shm`` (DataLoader workers exchange batches through it),
a writable ``/tmp`` under a read-only root filesystem, non-root hardened containers, ``backoff_limit``,
``finished_job_ttl`` (ttlSecondsAfterFinished), and S3 credentials read from a Secret (``env`` ``valueFrom``, so
no key ever appears in a deployment or a job variable). ``python -m spotlab.infra.kube.work_pool helm/spotlab/files/base-job-template.json``
rewrites the checked-in copy the Helm chart hands to the worker (a test fails when the two differ); without a path
it prints the template.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from prefect_kubernetes.worker import KubernetesWorkerVariables
from pydantic import Field

CONTAINER = "prefect-job"
S3_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")
# What a flow-run pod knows about its own job, so the train stage can launch a distributed job alike.
IMAGE_ENV = "SPOTLAB_IMAGE"
NAMESPACE_ENV = "SPOTLAB_NAMESPACE"
S3_SECRET_ENV = "SPOTLAB_S3_SECRET"
# The image's entrypoint is `spotlab`; the worker puts the whole flow-run command into `args`.
POD_COMMAND = ["/usr/bin/env"]


class SpotlabJobVariables(KubernetesWorkerVariables):
    """prefect-kubernetes' job variables plus spotlab's; their descriptions become the work pool's form."""

    gpu_limit: int = Field(0, ge=0, le=16, description="NVIDIA GPUs per job (resources.limits nvidia.com/gpu).")
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node labels the job's pod must match (e.g. a GPU node pool)."
    )
    tolerations: list[dict[str, Any]] = Field(
        default_factory=list, description="Pod tolerations, e.g. for tainted GPU nodes (Kubernetes Toleration)."
    )
    shm_size: str = Field("1Gi", description="Size limit of the RAM-backed /dev/shm volume.")
    tmp_size: str = Field("4Gi", description="Size limit of the writable /tmp volume (root filesystem is read-only).")
    image_pull_secrets: list[dict[str, str]] = Field(
        default_factory=list,
        description="Secrets for pulling the image from a private registry (Kubernetes LocalObjectReference list, "
        "e.g. [{name: regcred}]).",
    )
    s3_secret_name: str = Field(
        "spotlab-s3",
        description=f"Secret with the S3 settings {list(S3_SECRET_KEYS)} (each optional) exported to the job.",
    )


def _placeholder(variable: str) -> str:
    return "{{ " + variable + " }}"


def s3_env(secret_name: str) -> list[k8s.V1EnvVar]:
    """The S3 settings as env vars read from ``secret_name`` (each key optional: a local store needs none)."""
    return [
        k8s.V1EnvVar(
            name=key,
            value_from=k8s.V1EnvVarSource(
                secret_key_ref=k8s.V1SecretKeySelector(name=secret_name, key=key, optional=True)
            ),
        )
        for key in S3_SECRET_KEYS
    ]


def hardened_container_security() -> k8s.V1SecurityContext:
    return k8s.V1SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
    )


def non_root_pod_security() -> k8s.V1PodSecurityContext:
    """The image's user (uid 10001, see Dockerfile)."""
    return k8s.V1PodSecurityContext(
        run_as_non_root=True, run_as_user=10001, fs_group=10001,
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def scratch_volumes(shm_size: str, tmp_size: str) -> tuple[list[k8s.V1Volume], list[k8s.V1VolumeMount]]:
    """A RAM-backed /dev/shm and a writable /tmp (the root filesystem is read-only)."""
    volumes = [
        k8s.V1Volume(name="dshm", empty_dir=k8s.V1EmptyDirVolumeSource(medium="Memory", size_limit=shm_size)),
        k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit=tmp_size)),
    ]
    mounts = [k8s.V1VolumeMount(name="dshm", mount_path="/dev/shm"), k8s.V1VolumeMount(name="tmp", mount_path="/tmp")]
    return volumes, mounts


# Job variables that fill fields whose model type is not a string (the models validate strictly, so these are
# set on the serialised manifest): JSON path → variable.
TYPED_PLACEHOLDERS: dict[tuple[str, ...], str] = {
    ("metadata", "labels"): "labels",
    ("metadata", "annotations"): "annotations",
    ("spec", "backoffLimit"): "backoff_limit",
    ("spec", "ttlSecondsAfterFinished"): "finished_job_ttl",
    ("spec", "template", "spec", "nodeSelector"): "node_selector",
    ("spec", "template", "spec", "tolerations"): "tolerations",
    ("spec", "template", "spec", "imagePullSecrets"): "image_pull_secrets",
    ("spec", "template", "spec", "containers", 0, "args"): "command",
}


def job_manifest() -> k8s.V1Job:
    """The Job with every string-typed variable as a placeholder (see TYPED_PLACEHOLDERS for the others)."""
    volumes, mounts = scratch_volumes(_placeholder("shm_size"), _placeholder("tmp_size"))
    container = k8s.V1Container(
        name=CONTAINER,
        image=_placeholder("image"),
        image_pull_policy=_placeholder("image_pull_policy"),
        command=POD_COMMAND,
        env=[
            *s3_env(_placeholder("s3_secret_name")),
            k8s.V1EnvVar(name=IMAGE_ENV, value=_placeholder("image")),
            k8s.V1EnvVar(name=NAMESPACE_ENV, value=_placeholder("namespace")),
            k8s.V1EnvVar(name=S3_SECRET_ENV, value=_placeholder("s3_secret_name")),
        ],
        resources=k8s.V1ResourceRequirements(
            requests={"cpu": _placeholder("cpu_request"), "memory": _placeholder("memory_request")},
            limits={
                "cpu": _placeholder("cpu_limit"),
                "memory": _placeholder("memory_limit"),
                "nvidia.com/gpu": _placeholder("gpu_limit"),
            },
        ),
        security_context=hardened_container_security(),
        volume_mounts=mounts,
    )
    pod = k8s.V1PodSpec(
        containers=[container],
        restart_policy="Never",
        service_account_name=_placeholder("service_account_name"),
        security_context=non_root_pod_security(),
        volumes=volumes,
    )
    return k8s.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=k8s.V1ObjectMeta(generate_name=_placeholder("name") + "-", namespace=_placeholder("namespace")),
        spec=k8s.V1JobSpec(template=k8s.V1PodTemplateSpec(spec=pod)),
    )


def base_job_template() -> dict[str, Any]:
    """``{"job_configuration": ..., "variables": <JSON schema>}`` as `prefect work-pool create --base-job-template`
    reads it."""
    manifest = k8s.ApiClient().sanitize_for_serialization(job_manifest())
    for path, variable in TYPED_PLACEHOLDERS.items():
        node = manifest
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = _placeholder(variable)
    # prefect-kubernetes validates that these two keys sit in the pod spec (a quirk of its default template);
    # the API server drops them as unknown fields, and the Job's own parallelism/completions default to 1.
    manifest["spec"]["template"]["spec"] |= {"parallelism": 1, "completions": 1}
    variables = SpotlabJobVariables.model_json_schema()
    job_configuration = {
        name: _placeholder(name)
        for name in ("command", "env", "labels", "name", "annotations", "namespace", "cluster_config",
                     "job_watch_timeout_seconds", "pod_watch_timeout_seconds", "stream_output")
    }
    return {"job_configuration": job_configuration | {"job_manifest": manifest}, "variables": variables}


def render_json() -> str:
    return json.dumps(base_job_template(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(render_json())
        print(f"wrote {sys.argv[1]}", file=sys.stderr)
    else:
        sys.stdout.write(render_json())
