"""The Helm chart, checked with the real Helm v4 binary (`make helm` fetches it into .venv/tools) and every
rendered manifest validated against the Kubernetes OpenAPI schemas (strict: unknown fields fail)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml


ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "helm" / "spotlab" / "files" / "base-job-template.json"
CHART = ROOT / "helm" / "spotlab"
K8S_VERSION = "1.35.0"
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


@pytest.mark.parametrize("values", [None, *VALUES_FILES], ids=lambda v: v.name if v else "defaults")
def test_every_rendered_manifest_validates(values):
    docs = render(*(["-f", str(values)] if values else []))
    assert len(docs) >= 9
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


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
                if "KEY" in env["name"] or "TOKEN" in env["name"] or "PASSWORD" in env["name"]:
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


def test_rbac_is_namespaced_and_covers_jobs_services_pods_and_logs():
    docs = render()
    assert not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding")
    rules = by_kind(docs, "Role")["rel-spotlab"]["rules"]
    granted = {resource: set(rule["verbs"]) for rule in rules for resource in rule["resources"]}
    assert {"create", "delete", "watch"} <= granted["jobs"]
    assert {"create", "delete"} <= granted["services"]
    assert {"get", "list"} <= granted["pods"] and "get" in granted["pods/log"]


def test_helm_test_hook_checks_api_health_and_s3():
    hooks = [d for d in render() if d["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    assert len(hooks) == 1
    script = hooks[0]["spec"]["containers"][0]["args"][0]
    assert "/healthz" in script and "head_bucket" in script


@pytest.mark.parametrize("bad", ["api.tokn=x", "image.tag=latest", "jobs.gpuLimit=-1",
                                 "prefect.server.database.type=mysql", "storage.url=/local/dir"])
def test_schema_rejects_typos_and_bad_values(bad):
    result = helm("template", "rel", str(CHART), "--set", bad, check=False)
    assert result.returncode != 0 and "schema" in result.stderr


def test_postgres_without_credentials_names_the_missing_key():
    result = helm("template", "rel", str(CHART), "--set", "prefect.server.database.type=postgres",
                  "--set", "prefect.server.database.postgres.host=db", check=False)
    assert result.returncode != 0 and "prefect.server.database.postgres.password" in result.stderr


def test_notes_tell_how_to_reach_the_api_and_register_the_flows():
    notes = helm("install", "spotlab", str(CHART), "--dry-run=client", "--namespace", "ml").stdout.split("NOTES:")[1]
    assert "port-forward svc/spotlab-api 8000:8000" in notes
    assert "get secret spotlab-api" in notes and "spotlab deploy" in notes
    assert "changes on every upgrade" in notes  # no token given: the generated one is flagged
    pinned = helm("install", "spotlab", str(CHART), "--dry-run=client", "--set", "api.token=t").stdout
    assert "changes on every upgrade" not in pinned.split("NOTES:")[1]
