"""The Helm chart, checked with the real Helm v4 binary (`make helm` fetches it into .venv/tools) and every
rendered manifest validated against the Kubernetes OpenAPI schemas (strict: unknown fields fail)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml


ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "helm" / "spotlab" / "files" / "base-job-template.json"
CHART = ROOT / "helm" / "spotlab"
# The oldest and newest Kubernetes minors the chart supports, where the installed kubernetes-validate ships them.
K8S_VERSIONS = [v for v in ("1.33.0", "1.35.0") if v in kubernetes_validate.utils.all_versions()]
TEMPLATES = CHART / "templates"
VALUES_FILES = sorted((CHART / "ci").glob("*.yaml"))


def helm_binary() -> str | None:
    for candidate in (os.environ.get("SPOTLAB_HELM"), str(ROOT / ".venv" / "tools" / "helm"), shutil.which("helm")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


HELM = helm_binary()
pytestmark = pytest.mark.skipif(
    HELM is None, reason="no helm binary: `make helm` could not fetch it (offline?); set SPOTLAB_HELM to use another"
)


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([HELM, *args], capture_output=True, text=True, timeout=120, check=check)


def render(*args: str) -> list[dict]:
    out = helm("template", "rel", str(CHART), "--namespace", "ml", *args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.parametrize("values", [None, *VALUES_FILES], ids=lambda v: v.name if v else "defaults")
def test_lint_strict(values):
    result = helm("lint", "--strict", str(CHART), *(["-f", str(values)] if values else []), check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_supported_kubernetes_versions_have_schemas():
    assert K8S_VERSIONS == ["1.33.0", "1.35.0"], kubernetes_validate.utils.all_versions()


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("values", [None, *VALUES_FILES], ids=lambda v: v.name if v else "defaults")
def test_every_rendered_manifest_validates(values, version):
    docs = render(*(["-f", str(values)] if values else []))
    assert len(docs) >= 9
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def pod_specs(docs: list[dict]) -> dict[str, dict]:
    specs = {name: d["spec"]["template"]["spec"] for name, d in by_kind(docs, "Deployment").items()}
    specs |= {name: d["spec"] for name, d in by_kind(docs, "Pod").items()}
    return specs


def test_every_pod_is_non_root_read_only_and_drops_all_capabilities():
    docs = render("-f", str(CHART / "ci" / "s3-server-values.yaml"))
    specs = pod_specs(docs)
    assert {"rel-spotlab-api", "rel-spotlab-worker", "rel-spotlab-prefect", "rel-spotlab-s3", "rel-spotlab-test"} <= set(specs)
    for name, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert context["capabilities"]["drop"] == ["ALL"] and context["allowPrivilegeEscalation"] is False
            assert container["resources"]["limits"], (name, container["name"])


def test_secrets_are_referenced_never_inlined_in_pods():
    docs = render("-f", str(CHART / "ci" / "s3-server-values.yaml"))
    for name, spec in pod_specs(docs).items():
        for container in spec["containers"]:
            for env in container.get("env", []):
                names_a_secret = env["name"].endswith(("_SECRET_NAME", "_SECRET_KEY"))  # where to find one
                carries_one = any(word in env["name"] for word in ("KEY", "TOKEN", "PASSWORD", "AUTH_STRING"))
                if carries_one and not names_a_secret:
                    assert "valueFrom" in env and "value" not in env, (name, env)


def test_default_install_uses_sqlite_on_a_pvc_and_no_s3_server():
    docs = render()
    server = by_kind(docs, "Deployment")["rel-spotlab-prefect"]
    env = {e["name"]: e.get("value") for e in server["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("sqlite+aiosqlite:////data/")
    assert server["spec"]["strategy"]["type"] == "Recreate"
    assert "rel-spotlab-prefect" in by_kind(docs, "PersistentVolumeClaim")
    assert "rel-spotlab-s3" not in by_kind(docs, "Deployment")


def test_gpu_external_s3_postgres_values():
    docs = render("-f", str(CHART / "ci" / "gpu-s3-postgres-values.yaml"))
    server = by_kind(docs, "Deployment")["rel-spotlab-prefect"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in server["env"]}
    assert env["PREFECT_API_DATABASE_HOST"]["value"] == "postgres.databases.svc"
    assert env["PREFECT_API_DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "prefect-db"
    assert not by_kind(docs, "PersistentVolumeClaim")
    secrets = by_kind(docs, "Secret")
    assert "rel-spotlab-s3" not in secrets and "rel-spotlab-api" not in secrets  # existingSecret: none created
    api = by_kind(docs, "Deployment")["rel-spotlab-api"]["spec"]["template"]["spec"]["containers"][0]
    s3_refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in api["env"] if e["name"].startswith("AWS_")}
    assert s3_refs == {"spotlab-s3-credentials"}
    template = json.loads(by_kind(docs, "ConfigMap")["rel-spotlab-work-pool"]["data"]["base-job-template.json"])
    variables = template["variables"]["properties"]
    assert variables["gpu_limit"]["default"] == 1
    assert variables["node_selector"]["default"] == {"nvidia.com/gpu.present": "true"}
    assert variables["tolerations"]["default"][0]["key"] == "nvidia.com/gpu"
    assert variables["image"]["default"] == "registry.example.com/spotlab-cuda:0.1.0"
    assert variables["s3_secret_name"]["default"] == "spotlab-s3-credentials"
    assert variables["namespace"]["default"] == "ml"


def test_work_pool_template_is_the_generated_one():
    docs = render()
    template = json.loads(by_kind(docs, "ConfigMap")["rel-spotlab-work-pool"]["data"]["base-job-template.json"])
    assert template["job_configuration"] == json.loads(TEMPLATE_PATH.read_text())["job_configuration"]


def test_config_change_rolls_the_worker():
    def checksum(*args):
        worker = by_kind(render(*args), "Deployment")["rel-spotlab-worker"]
        return worker["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum("--set", "api.token=t") == checksum("--set", "api.token=t")
    assert checksum("--set", "api.token=t") != checksum("--set", "api.token=t", "--set", "jobs.gpuLimit=2")


def granted(docs: list[dict], role: str) -> dict[str, set[str]]:
    rules = by_kind(docs, "Role")[role]["rules"]
    return {resource: set(rule["verbs"]) for rule in rules for resource in rule["resources"]}


def test_rbac_is_namespaced_and_the_worker_manages_jobs():
    docs = render()
    assert not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding")
    worker = granted(docs, "rel-spotlab-worker")
    assert {"create", "delete", "watch"} <= worker["jobs"] and "services" not in worker
    assert {"get", "list", "watch"} <= worker["pods"] and {"list", "watch"} <= worker["events"]
    bound = {b["subjects"][0]["name"]: b["roleRef"]["name"] for b in by_kind(docs, "RoleBinding").values()}
    assert bound == {"rel-spotlab-worker": "rel-spotlab-worker", "rel-spotlab-jobs": "rel-spotlab-jobs"}


# What infra/kube/indexed_job.py and infra/kube/kubeflow.py call, besides reading their own pod and rank 0's log.
LAUNCHER_GRANTS = {
    "kubernetes": {"jobs": {"create", "delete"}, "jobs/status": {"get"}, "services": {"create", "delete"}},
    "kubeflow": {"trainjobs": {"get", "create", "delete"}},
}


@pytest.mark.parametrize("launcher", ["kubernetes", "kubeflow"])
def test_stage_jobs_get_exactly_what_their_distributed_launcher_calls(launcher):
    docs = render("--set", f"distributedLauncher={launcher}")
    jobs = granted(docs, "rel-spotlab-jobs")
    assert jobs == {**LAUNCHER_GRANTS[launcher], "pods": {"get", "list"}, "pods/log": {"get"}}
    groups = {r["apiGroups"][0] for r in by_kind(docs, "Role")["rel-spotlab-jobs"]["rules"]}
    assert groups == ({"trainer.kubeflow.org", ""} if launcher == "kubeflow" else {"batch", ""})


def test_local_launcher_gives_stage_jobs_no_role_and_no_token():
    docs = render("--set", "distributedLauncher=local")
    assert "rel-spotlab-jobs" not in by_kind(docs, "Role") and "rel-spotlab-jobs" not in by_kind(docs, "RoleBinding")
    assert by_kind(docs, "ServiceAccount")["rel-spotlab-jobs"]["automountServiceAccountToken"] is False


def test_gpu_example_launches_train_jobs():
    docs = render("-f", str(CHART / "ci" / "gpu-s3-postgres-values.yaml"))
    assert "trainjobs" in granted(docs, "rel-spotlab-jobs") and "services" not in granted(docs, "rel-spotlab-jobs")


def test_each_component_has_its_own_service_account_and_only_api_users_mount_a_token():
    docs = render("-f", str(CHART / "ci" / "s3-server-values.yaml"))
    accounts = by_kind(docs, "ServiceAccount")
    assert {name: a["automountServiceAccountToken"] for name, a in accounts.items()} == {
        "rel-spotlab-worker": True, "rel-spotlab-api": False, "rel-spotlab-jobs": True}
    specs = pod_specs(docs)
    assert specs["rel-spotlab-worker"]["serviceAccountName"] == "rel-spotlab-worker"
    assert specs["rel-spotlab-api"]["serviceAccountName"] == "rel-spotlab-api"
    for name in ("rel-spotlab-api", "rel-spotlab-prefect", "rel-spotlab-s3", "rel-spotlab-test"):
        assert specs[name]["automountServiceAccountToken"] is False, name
    template = json.loads(by_kind(docs, "ConfigMap")["rel-spotlab-work-pool"]["data"]["base-job-template.json"])
    assert template["variables"]["properties"]["service_account_name"]["default"] == "rel-spotlab-jobs"


def test_service_account_annotations_carry_cloud_identities():
    docs = render("-f", str(CHART / "ci" / "gpu-s3-postgres-values.yaml"))
    jobs = by_kind(docs, "ServiceAccount")["rel-spotlab-jobs"]
    assert jobs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/spotlab-artifacts")
    assert "annotations" not in by_kind(docs, "ServiceAccount")["rel-spotlab-worker"]["metadata"]


def test_existing_service_accounts_must_be_named():
    result = helm("template", "rel", str(CHART), "--set", "serviceAccounts.jobs.create=false", check=False)
    assert result.returncode != 0 and "serviceAccounts.jobs.name is required" in result.stderr
    docs = render("--set", "serviceAccounts.jobs.create=false", "--set", "serviceAccounts.jobs.name=ml-jobs")
    assert "rel-spotlab-jobs" not in by_kind(docs, "ServiceAccount")
    assert by_kind(docs, "RoleBinding")["rel-spotlab-jobs"]["subjects"][0]["name"] == "ml-jobs"


def test_image_pull_secrets_reach_stage_jobs_and_their_service_account():
    docs = render("-f", str(CHART / "ci" / "gpu-s3-postgres-values.yaml"))
    template = json.loads(by_kind(docs, "ConfigMap")["rel-spotlab-work-pool"]["data"]["base-job-template.json"])
    assert template["variables"]["properties"]["image_pull_secrets"]["default"] == [{"name": "regcred"}]
    assert by_kind(docs, "ServiceAccount")["rel-spotlab-jobs"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert "imagePullSecrets" not in by_kind(render(), "ServiceAccount")["rel-spotlab-jobs"]


def env_of(docs: list[dict], deployment: str) -> dict[str, dict]:
    container = by_kind(docs, "Deployment")[deployment]["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container["env"]}


def test_prefect_basic_auth_is_on_by_default_from_one_secret():
    docs = render()
    secret = by_kind(docs, "Secret")["rel-spotlab-prefect-auth"]["stringData"]["auth-string"]
    user, password = secret.split(":")
    assert user == "admin" and len(password) >= 32
    ref = {"name": "rel-spotlab-prefect-auth", "key": "auth-string"}
    assert env_of(docs, "rel-spotlab-prefect")["PREFECT_SERVER_API_AUTH_STRING"]["valueFrom"]["secretKeyRef"] == ref
    for client in ("rel-spotlab-worker", "rel-spotlab-api"):
        assert env_of(docs, client)["PREFECT_API_AUTH_STRING"]["valueFrom"]["secretKeyRef"] == ref, client
    # The worker hands stage jobs a reference to the Secret instead of its own (literal) auth string.
    worker = env_of(docs, "rel-spotlab-worker")
    assert worker["PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME"]["value"] == ref["name"]
    assert worker["PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_KEY"]["value"] == ref["key"]


def test_prefect_auth_from_an_existing_secret_or_off():
    docs = render("--set", "prefect.auth.existingSecret=prefect-basic-auth")
    assert "rel-spotlab-prefect-auth" not in by_kind(docs, "Secret")
    ref = env_of(docs, "rel-spotlab-api")["PREFECT_API_AUTH_STRING"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "prefect-basic-auth", "key": "auth-string"}
    off = render("--set", "prefect.auth.enabled=false")
    assert "rel-spotlab-prefect-auth" not in by_kind(off, "Secret")
    assert "PREFECT_SERVER_API_AUTH_STRING" not in env_of(off, "rel-spotlab-prefect")
    assert "PREFECT_API_AUTH_STRING" not in env_of(off, "rel-spotlab-worker")


def test_given_prefect_password_is_used():
    docs = render("-f", str(CHART / "ci" / "s3-server-values.yaml"))
    assert by_kind(docs, "Secret")["rel-spotlab-prefect-auth"]["stringData"]["auth-string"] == "admin:e2e-prefect-password"


def test_ui_api_url_follows_the_documented_access_path():
    def ui_url(*args):
        return env_of(render(*args), "rel-spotlab-prefect")["PREFECT_UI_API_URL"]["value"]

    assert ui_url() == "http://localhost:4200/api"  # the NOTES' port-forward
    assert ui_url("-f", str(CHART / "ci" / "gpu-s3-postgres-values.yaml")) == "https://prefect.spotlab.example.com/api"
    assert ui_url("--set", "prefect.server.uiApiUrl=https://prefect.corp/api") == "https://prefect.corp/api"


def test_worker_observer_watches_only_the_release_namespace():
    assert env_of(render(), "rel-spotlab-worker")["PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES"]["value"] == "ml"


def test_generated_secrets_are_looked_up_so_upgrades_keep_them():
    """`helm template` has no cluster for `lookup`, so this checks the wiring: every generated value goes through
    the helper that first reads the existing Secret."""
    helper = (TEMPLATES / "_helpers.tpl").read_text()
    assert 'dig "data" (dict) (lookup "v1" "Secret" .root.Release.Namespace .secret)' in helper
    secrets = (TEMPLATES / "secrets.yaml").read_text()
    generated = secrets.count("randAlphaNum")
    assert generated == 4 and secrets.count('"fresh" (randAlphaNum') + secrets.count('(randAlphaNum 32)))') == 4
    assert secrets.count('include "spotlab.stableSecretValue"') == 4
    assert all("randAlphaNum" not in p.read_text() for p in TEMPLATES.rglob("*") if p.name != "secrets.yaml" and p.is_file())


def test_ingress_serves_https_only_and_no_example_exposes_plain_http():
    docs = render("-f", str(CHART / "ci" / "gpu-s3-postgres-values.yaml"))
    ingress = by_kind(docs, "Ingress")["rel-spotlab"]
    assert ingress["spec"]["tls"][0]["hosts"] == ["spotlab.example.com", "prefect.spotlab.example.com"]
    backends = {r["host"]: r["http"]["paths"][0]["backend"]["service"]["name"] for r in ingress["spec"]["rules"]}
    assert backends == {"spotlab.example.com": "rel-spotlab-api", "prefect.spotlab.example.com": "rel-spotlab-prefect"}
    result = helm("template", "rel", str(CHART), "--set", "ingress.enabled=true",
                  "--set", "ingress.apiHost=spotlab.example.com", check=False)
    assert result.returncode != 0 and "ingress.tls is required" in result.stderr
    for values in VALUES_FILES:
        services = by_kind(render("-f", str(values)), "Service").values()
        assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in services), values.name


def test_external_prefect_server_mode():
    docs = render("-f", str(CHART / "ci" / "external-prefect-values.yaml"))
    assert "rel-spotlab-prefect" not in by_kind(docs, "Deployment") and not by_kind(docs, "PersistentVolumeClaim")
    url = "http://prefect-server.prefect.svc.cluster.local:4200/api"
    for client in ("rel-spotlab-worker", "rel-spotlab-api"):
        env = env_of(docs, client)
        assert env["PREFECT_API_URL"]["value"] == url
        assert env["PREFECT_API_AUTH_STRING"]["valueFrom"]["secretKeyRef"]["name"] == "prefect-basic-auth"
    result = helm("template", "rel", str(CHART), "--set", "prefect.server.enabled=false", check=False)
    assert result.returncode != 0 and "prefect.externalApiUrl is required" in result.stderr


def test_helm_test_hook_checks_api_health_and_s3():
    hooks = [d for d in render() if d["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    assert len(hooks) == 1
    script = hooks[0]["spec"]["containers"][0]["args"][0]
    assert "/healthz" in script and "head_bucket" in script


@pytest.mark.parametrize("bad", ["api.tokn=x", "image.tag=latest", "jobs.gpuLimit=-1",
                                 "prefect.server.database.type=mysql", "storage.url=/local/dir",
                                 "api.resources.limits.cpu=abc", "jobs.shmSize=8GB", "jobs.tolerations[0].keys=gpu",
                                 "jobs.tolerations[0].operator=Maybe", "serviceAccounts.jobs.annotations.a=null",
                                 "prefect.auth.username=a:b", "distributedLauncher=slurm"])
def test_schema_rejects_typos_and_bad_values(bad):
    result = helm("template", "rel", str(CHART), "--set", bad, check=False)
    assert result.returncode != 0 and "schema" in result.stderr


@pytest.mark.parametrize("good", ["api.resources.limits.cpu=1500m", "api.resources.limits.cpu=2",
                                  "api.resources.limits.memory=1.5Gi", "jobs.tolerations[0].key=gpu",
                                  "serviceAccounts.api.annotations.iam\\.gke\\.io/gcp-service-account=x@p.iam"])
def test_schema_accepts_kubernetes_quantities_tolerations_and_annotations(good):
    result = helm("template", "rel", str(CHART), "--set", good, check=False)
    assert result.returncode == 0, result.stderr


def test_postgres_without_credentials_names_the_missing_key():
    result = helm("template", "rel", str(CHART), "--set", "prefect.server.database.type=postgres",
                  "--set", "prefect.server.database.postgres.host=db", check=False)
    assert result.returncode != 0 and "prefect.server.database.postgres.password" in result.stderr


def test_notes_tell_how_to_reach_the_api_and_register_the_flows():
    notes = helm("install", "spotlab", str(CHART), "--dry-run=client", "--namespace", "ml").stdout.split("NOTES:")[1]
    assert "port-forward svc/spotlab-api 8000:8000" in notes
    assert "get secret spotlab-api" in notes and "spotlab deploy" in notes
    assert "cannot\nlook it up" in notes  # no token given: GitOps users are told to pin it
    pinned = helm("install", "spotlab", str(CHART), "--dry-run=client", "--set", "api.token=t").stdout
    assert "cannot\nlook it up" not in pinned.split("NOTES:")[1]
    assert "get secret spotlab-prefect-auth" in notes and "the UI calls http://localhost:4200/api" in notes


@pytest.mark.parametrize("stages", ["deployments", "inline"])
def test_stage_execution_reaches_the_api_and_every_flow_run_job(stages):
    docs = render(*([] if stages == "deployments" else ["--set", "execution.stages=inline"]))  # default: jobs
    from spotlab.infra.settings import STAGE_EXECUTION_ENV

    assert env_of(docs, "rel-spotlab-api")[STAGE_EXECUTION_ENV]["value"] == stages
    template = json.loads(by_kind(docs, "ConfigMap")["rel-spotlab-work-pool"]["data"]["base-job-template.json"])
    assert template["variables"]["properties"]["env"]["default"] == {STAGE_EXECUTION_ENV: stages}
    assert template["job_configuration"]["env"] == "{{ env }}"  # the Job's container gets the variable's value


def test_schema_refuses_an_unknown_stage_execution():
    result = helm("template", "rel", str(CHART), "--set", "execution.stages=pods", check=False)
    assert result.returncode != 0 and "/execution/stages" in result.stderr
