"""The multi-node launchers: the Indexed Job fallback (validated against the Kubernetes OpenAPI schemas, strict, for
the oldest and newest supported minors), the Kubeflow Trainer TrainJob and MPI runtime (validated by the Trainer API
models; their pod parts also as core objects), the fields that matter golden-tested, and the submit / wait /
delete logic against recording stand-ins of the Kubernetes API (no cluster here)."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import kubernetes_validate
import kubernetes_validate.utils
import pydantic
import pytest
from kubeflow_trainer_api import models as kf
from kubernetes import client as k8s
from torch.distributed.run import config_from_args, parse_args

from spotlab.infra.kube import distributed, indexed_job, kubeflow
from spotlab.infra.kube.distributed import (
    ClusterApis,
    DistributedJobError,
    DistributedJobSpec,
    Placement,
    job_name,
    placement_of,
)
from spotlab.infra.kube.work_pool import scratch_volumes
from spotlab.tasks.train.config import TrainConfig

K8S_VERSIONS = [v for v in ("1.33.0", "1.35.0") if v in kubernetes_validate.utils.all_versions()]
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
PLACEMENT = Placement(
    node_selector={"nvidia.com/gpu.present": "true"}, tolerations=[GPU_TOLERATION],
    image_pull_secrets=[{"name": "regcred"}], service_account="rel-spotlab-jobs", shm_size="8Gi", tmp_size="4Gi",
)
SPEC = DistributedJobSpec(
    name=job_name("20261126-160400.123-abc123", "runs/20261126-160400.123-abc123/train/launch.json"),
    namespace="ml", image="registry.example.com/spotlab-cuda:0.1.0", store_url="s3://bucket/exp",
    endpoint_url="http://s3.local:9000", spec_key="runs/20261126-160400.123-abc123/train/launch.json",
    nodes=2, gpus_per_node=4, cpu_per_node="16", memory_per_node="64Gi", timeout_s=900, s3_secret="my-s3",
    placement=PLACEMENT,
)
CPU_SPEC = dataclasses.replace(SPEC, gpus_per_node=0, cpu_per_node=None, memory_per_node=None, endpoint_url=None,
                               placement=Placement())
HOROVOD_SPEC = dataclasses.replace(SPEC, backend="horovod")


def as_dict(model) -> dict:
    return k8s.ApiClient().sanitize_for_serialization(model)


def validate(manifest: dict) -> None:
    assert K8S_VERSIONS == ["1.33.0", "1.35.0"], kubernetes_validate.utils.all_versions()
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(manifest, version, strict=True)


def torchrun_config(command: list[str], **substitutions: str):
    """What torchrun itself makes of a pod's command (after Kubernetes expands ``$(VAR)`` references)."""
    assert command[:3] == ["python", "-m", "torch.distributed.run"]
    args = command[3:]
    for variable, value in substitutions.items():
        args = [a.replace(f"$({variable})", value) for a in args]
    config, module, module_args = config_from_args(parse_args(args))
    return config, module_args


def s3_refs(env: list[dict]) -> dict[str, dict]:
    return {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if e["name"].startswith("AWS_")}


# --- placement: what the launched pods inherit from the stage pod ------------------------------------------------

def stage_pod() -> k8s.V1Pod:
    """A stage pod as the work pool creates it (the chart's jobs.nodeSelector / tolerations / pull secrets / shm)."""
    volumes, mounts = scratch_volumes("8Gi", "4Gi")
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="train-abc-xyz"),
        spec=k8s.V1PodSpec(
            containers=[k8s.V1Container(name="prefect-job", image="spotlab:cuda", volume_mounts=mounts)],
            node_selector={"nvidia.com/gpu.present": "true"},
            tolerations=[k8s.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
            image_pull_secrets=[k8s.V1LocalObjectReference(name="regcred")],
            service_account_name="rel-spotlab-jobs",
            volumes=volumes,
        ),
    )


def test_launched_pods_take_the_stage_pods_placement():
    assert placement_of(stage_pod()) == PLACEMENT
    bare = k8s.V1Pod(spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c")]))
    assert placement_of(bare) == Placement()


def test_job_names_are_dns_labels_unique_per_spec():
    name = job_name("20261126-160400.123-ABC123", "a")
    assert name[0].isalpha() and len(name) <= 40 and name == name.lower() and "." not in name
    assert job_name("20261126-160400.123-ABC123", "b") != name


# --- launcher: kubernetes (Indexed Job + headless Service) --------------------------------------------------------

def test_indexed_job_golden_fields():
    job = as_dict(indexed_job.indexed_job(SPEC))
    validate(job)
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 2, 2)
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] == 900
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == SPEC.name and pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"} and pod["tolerations"] == [GPU_TOLERATION]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["serviceAccountName"] == "rel-spotlab-jobs" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    amounts = {"nvidia.com/gpu": "4", "cpu": "16", "memory": "64Gi"}
    assert container["resources"] == {"requests": amounts, "limits": amounts}
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    assert next(v for v in pod["volumes"] if v["name"] == "dshm")["emptyDir"] == {"medium": "Memory",
                                                                                  "sizeLimit": "8Gi"}
    assert container["env"][0]["name"] == "JOB_COMPLETION_INDEX"
    assert "job-completion-index" in container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"]
    assert s3_refs(container["env"])["AWS_SECRET_ACCESS_KEY"] == {"name": "my-s3", "key": "AWS_SECRET_ACCESS_KEY",
                                                                  "optional": True}
    assert all("value" not in e for e in container["env"])


@pytest.mark.parametrize("index", [0, 1])
def test_indexed_job_node_rank_is_the_completion_index_and_every_gpu_runs_a_worker(index):
    """torchrun's own argument handling: static rendezvous at pod 0 keeps --node-rank (c10d would order nodes by
    host name), so global ranks are index × 4 + local rank."""
    job = as_dict(indexed_job.indexed_job(SPEC))
    container = job["spec"]["template"]["spec"]["containers"][0]
    config, worker_args = torchrun_config(container["command"] + container["args"],
                                          JOB_COMPLETION_INDEX=str(index))
    assert config.rdzv_backend == "static" and config.rdzv_configs["rank"] == index
    assert (config.min_nodes, config.max_nodes, config.nproc_per_node) == (2, 2, 4)
    assert config.rdzv_endpoint == f"{SPEC.name}-0.{SPEC.name}:29400"
    assert worker_args == ["-u", "-m", "spotlab.tasks.distributed.worker", "--store", "s3://bucket/exp",
                           "--endpoint-url", "http://s3.local:9000", "--spec", SPEC.spec_key]


def test_cpu_indexed_job_runs_one_worker_per_pod_and_requests_nothing():
    job = as_dict(indexed_job.indexed_job(CPU_SPEC))
    validate(job)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert "resources" not in container or not container["resources"]
    assert not {"nodeSelector", "tolerations", "imagePullSecrets", "serviceAccountName"} & set(pod)
    config, worker_args = torchrun_config(container["command"] + container["args"], JOB_COMPLETION_INDEX="0")
    assert config.nproc_per_node == 1 and "--endpoint-url" not in worker_args


def test_headless_service_golden_fields():
    service = as_dict(indexed_job.headless_service(SPEC))
    validate(service)
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["ports"][0]["port"] == 29400
    job_labels = as_dict(indexed_job.indexed_job(SPEC))["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= job_labels.items()


# --- launcher: kubeflow (TrainJob; MPI runtime for horovod) -------------------------------------------------------

def replicated_patches(body: dict) -> dict[str, dict]:
    [patch] = body["spec"]["runtimePatches"]
    assert patch["manager"] == "spotlab.dev/launcher"
    jobs = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    return {job["name"]: job["template"]["spec"]["template"] for job in jobs}


def test_torch_train_job_golden_fields():
    body = kubeflow.train_job(SPEC).to_dict()
    assert (body["apiVersion"], body["kind"]) == ("trainer.kubeflow.org/v1alpha1", "TrainJob")
    assert body["metadata"] == {"name": SPEC.name, "namespace": "ml",
                                "labels": {"spotlab.dev/distributed-job": SPEC.name}}
    spec = body["spec"]
    assert spec["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime",
                                  "name": "torch-distributed"}
    assert spec["activeDeadlineSeconds"] == 900
    trainer = spec["trainer"]
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (2, 4)
    amounts = {"nvidia.com/gpu": "4", "cpu": "16", "memory": "64Gi"}
    assert trainer["resourcesPerNode"] == {"requests": amounts, "limits": amounts}
    assert trainer["image"] == SPEC.image
    assert set(s3_refs(trainer["env"])) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL",
                                            "AWS_DEFAULT_REGION"}
    assert all(ref["name"] == "my-s3" for ref in s3_refs(trainer["env"]).values())
    patches = replicated_patches(body)
    assert set(patches) == {"node"}
    pod = patches["node"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"} and pod["tolerations"] == [GPU_TOLERATION]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}] and pod["serviceAccountName"] == "rel-spotlab-jobs"
    assert next(v for v in pod["volumes"] if v["name"] == "dshm")["emptyDir"]["sizeLimit"] == "8Gi"
    [container] = pod["containers"]
    assert container["name"] == "node" and {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_torch_train_job_command_takes_ranks_from_trainers_environment(monkeypatch):
    """Trainer's torch plugin sets PET_* on every node; torchrun reads them as its arguments."""
    trainer = kubeflow.train_job(SPEC).to_dict()["spec"]["trainer"]
    for name, value in {"PET_NNODES": "2", "PET_NPROC_PER_NODE": "4", "PET_NODE_RANK": "1",
                        "PET_MASTER_ADDR": f"{SPEC.name}-node-0-0.{SPEC.name}", "PET_MASTER_PORT": "29400"}.items():
        monkeypatch.setenv(name, value)
    config, worker_args = torchrun_config(trainer["command"])
    assert config.rdzv_configs["rank"] == 1 and (config.max_nodes, config.nproc_per_node) == (2, 4)
    assert worker_args[1:4] == ["-m", "spotlab.tasks.distributed.worker", "--store"]


def test_horovod_train_job_runs_mpirun_on_the_mpi_runtime():
    body = kubeflow.train_job(HOROVOD_SPEC).to_dict()
    assert body["spec"]["runtimeRef"]["name"] == "spotlab-horovod"
    trainer = body["spec"]["trainer"]
    command = trainer["command"]
    assert command[:3] == ["mpirun", "-np", "8"] and (trainer["numNodes"], trainer["numProcPerNode"]) == (2, 4)
    forwarded = {command[i + 1] for i, arg in enumerate(command) if arg == "-x"}
    assert forwarded == {"PATH", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL",
                         "AWS_DEFAULT_REGION"}
    assert command[command.index("python"):][:3] == ["python", "-m", "spotlab.tasks.distributed.worker"]
    patches = replicated_patches(body)
    assert set(patches) == {"launcher", "node"}
    assert all(p["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"} for p in patches.values())
    named = dataclasses.replace(HOROVOD_SPEC, runtime="team-mpi")
    assert kubeflow.train_job(named).to_dict()["spec"]["runtimeRef"]["name"] == "team-mpi"


@pytest.mark.parametrize("spec", [SPEC, CPU_SPEC, HOROVOD_SPEC], ids=["torch-gpu", "torch-cpu", "horovod"])
def test_train_jobs_pass_the_trainer_api_models_validation(spec):
    body = kubeflow.train_job(spec).to_dict()
    assert kf.TrainerV1alpha1TrainJob.from_dict(json.loads(json.dumps(body))).to_dict() == body
    broken = json.loads(json.dumps(body))
    broken["spec"]["trainer"]["numNodes"] = "two"
    with pytest.raises(pydantic.ValidationError, match="numNodes"):
        kf.TrainerV1alpha1TrainJob.from_dict(broken)


@pytest.mark.parametrize("spec", [SPEC, CPU_SPEC], ids=["gpu", "cpu"])
def test_train_job_pod_parts_are_valid_core_objects(spec):
    """The patched pod spec plus the trainer's container, assembled as the Pod Trainer makes, validates strictly."""
    body = kubeflow.train_job(spec).to_dict()
    pod = replicated_patches(body)["node"]
    trainer = body["spec"]["trainer"]
    container = {**pod["spec"]["containers"][0], "image": trainer["image"], "command": trainer["command"],
                 "env": trainer["env"], **({"resources": trainer["resourcesPerNode"]}
                                           if "resourcesPerNode" in trainer else {})}
    validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "node-0", **pod["metadata"]},
              "spec": {**pod["spec"], "containers": [container], "restartPolicy": "Never"}})


@pytest.mark.parametrize("gang", [None, "coscheduling", "volcano"])
def test_mpi_runtime_validates_and_runs_ranks_as_the_image_user(gang):
    runtime = kubeflow.mpi_runtime("registry.example.com/spotlab-mpi:0.1.0", gang=gang).to_dict()
    assert kf.TrainerV1alpha1ClusterTrainingRuntime.from_dict(json.loads(json.dumps(runtime))).to_dict() == runtime
    assert runtime["metadata"]["name"] == "spotlab-horovod"
    mpi = runtime["spec"]["mlPolicy"]["mpi"]
    assert mpi == {"mpiImplementation": "OpenMPI", "numProcPerNode": 1, "runLauncherAsNode": True,
                   "sshAuthMountPath": "/home/spotlab/.ssh"}
    assert (runtime["spec"].get("podGroupPolicy") or {}).keys() == ({gang} if gang else set())
    jobs = {j["name"]: j for j in runtime["spec"]["template"]["spec"]["replicatedJobs"]}
    assert jobs["launcher"]["dependsOn"] == [{"name": "node", "status": "Ready"}]
    assert jobs["launcher"]["template"]["metadata"]["labels"] == {"trainer.kubeflow.org/trainjob-ancestor-step":
                                                                  "trainer"}
    for job in jobs.values():
        validate({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": job["name"]}, **job["template"]})
        assert job["template"]["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001
    assert jobs["node"]["template"]["spec"]["template"]["spec"]["containers"][0]["command"] == ["/usr/sbin/sshd"]
    with pytest.raises(ValueError, match="gang"):
        kubeflow.mpi_runtime("x", gang="kueue")


def test_mpi_runtime_command_prints_json(capsys):
    kubeflow.main(["mpi-runtime", "--image", "spotlab-mpi:1", "--gang", "coscheduling"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["kind"] == "ClusterTrainingRuntime" and "coscheduling" in printed["spec"]["podGroupPolicy"]


# --- submit, wait, delete -----------------------------------------------------------------------------------------

class RecordingCluster:
    """Stands in for BatchV1Api, CoreV1Api and CustomObjectsApi: records calls; the job runs for ``polls - 1``
    polls, then meets its fate ("ok", "failed", or an exception raised from the poll, as a cancellation would)."""

    def __init__(self, fate, polls: int = 2):
        self.fate, self.polls, self.calls, self.seen = fate, polls, [], 0

    def _finished(self) -> bool:
        self.seen += 1
        if self.seen >= self.polls and isinstance(self.fate, BaseException):
            raise self.fate
        return self.seen >= self.polls

    # CoreV1Api
    def read_namespaced_pod(self, name, namespace):
        self.calls.append(("read own pod", namespace, name))
        return stage_pod()

    def list_namespaced_pod(self, namespace, label_selector):
        self.calls.append(("list rank 0", namespace, label_selector))
        pod = SimpleNamespace(metadata=SimpleNamespace(name="rank0-pod"), status=SimpleNamespace(phase="Running"))
        return SimpleNamespace(items=[pod])

    def read_namespaced_pod_log(self, name, namespace, container, follow, _preload_content):
        self.calls.append(("stream log", namespace, name, container, follow, _preload_content))
        return LogStream([b"epoch 1 loss 0.9\n", b"epoch 2 loss 0.5\n"])

    def create_namespaced_service(self, namespace, body):
        self.calls.append(("create service", namespace, body.metadata.name))

    def delete_namespaced_service(self, name, namespace):
        self.calls.append(("delete service", namespace, name))

    # BatchV1Api
    def create_namespaced_job(self, namespace, body):
        self.calls.append(("create job", namespace, as_dict(body)))

    def read_namespaced_job_status(self, name, namespace):
        done = self._finished()
        status = {"succeeded": 2} if done and self.fate == "ok" else {"failed": 1} if done else {}
        return SimpleNamespace(status=SimpleNamespace(**{"succeeded": None, "failed": None, **status}))

    def delete_namespaced_job(self, name, namespace, **options):
        self.calls.append(("delete job", namespace, name, options))

    # CustomObjectsApi
    def create_namespaced_custom_object(self, group, version, namespace, plural, body):
        self.calls.append(("create custom", f"{group}/{version}", namespace, plural, body))

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        done = self._finished()
        if not done:
            return {"status": {"conditions": [{"type": "Created", "status": "True"}]}}
        if self.fate == "ok":
            return {"status": {"conditions": [{"type": "Complete", "status": "True", "reason": "JobSetCompleted"}]}}
        return {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "JobSetFailed",
                                           "message": "jobset failed: node-1 OOMKilled"}]}}

    def delete_namespaced_custom_object(self, group, version, namespace, plural, name, **options):
        self.calls.append(("delete custom", f"{group}/{version}", namespace, plural, name, options))


class LogStream(list):
    def release_conn(self):
        pass


def launch(cluster: RecordingCluster, launcher: str, backend: str = "torch", in_cluster: bool = True):
    apis = ClusterApis(batch=cluster, core=cluster, custom=cluster, in_cluster=in_cluster)
    distributed.run_distributed_job(
        launcher=launcher, run_id="r1", store_url="s3://b/p", endpoint_url=None, spec_key="runs/r1/train/launch.json",
        nodes=2, gpus_per_node=4, backend=backend, image="spotlab:test", namespace="ml", apis=apis,
    )


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(distributed.time, "sleep", lambda s: None)
    monkeypatch.setattr(distributed.socket, "gethostname", lambda: "train-abc-xyz")


NAME = job_name("r1", "runs/r1/train/launch.json")


def test_kubeflow_launcher_submits_waits_streams_and_deletes(caplog):
    caplog.set_level("INFO", logger="spotlab.kube")
    cluster = RecordingCluster("ok")
    launch(cluster, "kubeflow")
    kinds = [c[0] for c in cluster.calls]
    assert kinds == ["read own pod", "create custom", "list rank 0", "stream log", "delete custom"]
    _, group_version, namespace, plural, body = cluster.calls[1]
    assert (group_version, namespace, plural) == ("trainer.kubeflow.org/v1alpha1", "ml", "trainjobs")
    placement = dataclasses.replace(PLACEMENT)
    expected = kubeflow.train_job(DistributedJobSpec(
        name=NAME, namespace="ml", image="spotlab:test", store_url="s3://b/p", endpoint_url=None,
        spec_key="runs/r1/train/launch.json", nodes=2, gpus_per_node=4, s3_secret="spotlab-s3", placement=placement,
    ))
    assert body == expected.to_dict()  # the stage pod's placement reached the TrainJob
    assert "jobset.sigs.k8s.io/replicatedjob-name=node" in cluster.calls[2][2]
    assert cluster.calls[-1] == ("delete custom", "trainer.kubeflow.org/v1alpha1", "ml", "trainjobs", NAME,
                                 {"propagation_policy": "Foreground"})
    assert "[rank 0] epoch 2 loss 0.5" in caplog.messages


def test_kubeflow_failure_names_the_reason_and_still_deletes():
    cluster = RecordingCluster("failed")
    with pytest.raises(DistributedJobError, match="JobSetFailed: jobset failed: node-1 OOMKilled"):
        launch(cluster, "kubeflow", backend="horovod")
    assert cluster.calls[-1][0] == "delete custom"
    assert "replicatedjob-name=launcher" in next(c for c in cluster.calls if c[0] == "list rank 0")[2]


@pytest.mark.parametrize("launcher", ["kubeflow", "kubernetes"])
def test_cancelling_the_stage_deletes_the_job(launcher):
    """Prefect cancels a flow run by interrupting it: the job must not outlive the stage."""
    cluster = RecordingCluster(KeyboardInterrupt(), polls=1)
    with pytest.raises(KeyboardInterrupt):
        launch(cluster, launcher)
    deleted = [c[0] for c in cluster.calls if c[0].startswith("delete")]
    assert deleted == (["delete custom"] if launcher == "kubeflow" else ["delete job", "delete service"])


@pytest.mark.parametrize("fate", ["ok", "failed"])
def test_indexed_job_launcher_creates_waits_and_always_cleans_up(fate, caplog):
    caplog.set_level("INFO", logger="spotlab.kube")
    cluster = RecordingCluster(fate)
    if fate == "ok":
        launch(cluster, "kubernetes")
    else:
        with pytest.raises(DistributedJobError, match="1 pod"):
            launch(cluster, "kubernetes")
    assert [c[0] for c in cluster.calls] == ["read own pod", "create service", "create job", "list rank 0",
                                             "stream log", "delete job", "delete service"]
    job = cluster.calls[2][2]
    assert job["metadata"]["name"] == NAME and job["spec"]["completions"] == 2
    assert job["spec"]["template"]["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert "batch.kubernetes.io/job-completion-index=0" in cluster.calls[3][2]
    assert cluster.calls[4][3:] == ("worker", True, False)
    assert "[rank 0] epoch 2 loss 0.5" in caplog.messages


def test_outside_a_cluster_no_placement_is_read():
    cluster = RecordingCluster("ok")
    launch(cluster, "kubeflow", in_cluster=False)
    assert "read own pod" not in [c[0] for c in cluster.calls]
    assert "nodeSelector" not in replicated_patches(cluster.calls[0][4])["node"]["spec"]


def test_launcher_refuses_bad_arguments(monkeypatch):
    monkeypatch.delenv("SPOTLAB_IMAGE", raising=False)
    apis = ClusterApis(batch=None, core=None, custom=None, in_cluster=False)
    common = dict(run_id="r", store_url="s3://b", endpoint_url=None, spec_key="k", apis=apis)
    with pytest.raises(ValueError, match="nodes"):
        distributed.run_distributed_job(launcher="kubeflow", **common, nodes=0, image="x")
    with pytest.raises(ValueError, match="launcher='local'"):
        distributed.run_distributed_job(launcher="local", **common, nodes=1, image="x")
    with pytest.raises(ValueError, match="horovod"):
        distributed.run_distributed_job(launcher="kubernetes", **common, nodes=2, backend="horovod", image="x")
    with pytest.raises(ValueError, match="SPOTLAB_IMAGE"):
        distributed.run_distributed_job(launcher="kubeflow", **common, nodes=2)


# --- the config that picks them -----------------------------------------------------------------------------------

def distributed_config(**fields):
    return TrainConfig.model_validate({"distributed": fields}).distributed


def test_pods_are_workers_over_gpus_per_node():
    config = distributed_config(workers=8, launcher="kubeflow", gpus_per_node=4)
    assert (config.nodes, config.procs_per_node, config.launched) == (2, 4, True)
    cpu = distributed_config(workers=3, launcher="kubernetes")
    assert (cpu.nodes, cpu.procs_per_node) == (3, 1)
    assert distributed_config(workers=1, launcher="kubeflow").launched


@pytest.mark.parametrize("fields, field", [
    ({"workers": 6, "launcher": "kubeflow", "gpus_per_node": 4}, "gpus_per_node"),
    ({"workers": 2, "launcher": "kubernetes", "backend": "horovod"}, "launcher='kubernetes'"),
    ({"workers": 2, "launcher": "kubeflow", "memory_per_node": "lots"}, "memory_per_node"),
    ({"workers": 2, "launcher": "kubeflow", "kubeflow_runtime": "Torch_Runtime"}, "kubeflow_runtime"),
    ({"workers": 2, "launcher": "slurm"}, "launcher"),
])
def test_bad_launch_settings_are_refused_naming_the_field(fields, field):
    with pytest.raises(pydantic.ValidationError, match=field):
        distributed_config(**fields)


def test_horovod_runs_on_kubeflow():
    config = distributed_config(workers=4, backend="horovod", launcher="kubeflow", gpus_per_node=2)
    assert (config.backend, config.nodes) == ("horovod", 2)


def test_where_training_runs_is_not_part_of_its_identity():
    from spotlab.infra.identity import config_hash

    local = TrainConfig.model_validate({"distributed": {"workers": 4}})
    cluster = TrainConfig.model_validate({"distributed": {
        "workers": 4, "launcher": "kubeflow", "gpus_per_node": 2, "cpu_per_node": "8", "memory_per_node": "32Gi",
        "kubeflow_runtime": "torch-distributed"}})
    assert config_hash(local) == config_hash(cluster)
    assert config_hash(local) != config_hash(TrainConfig.model_validate({"distributed": {"workers": 2}}))
