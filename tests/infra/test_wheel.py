"""spotlab as a user gets it: built into a wheel, installed non-editable, run from a directory outside the checkout.

The wheel is built without build isolation (setuptools from the test extra) and installed with ``--no-deps
--target``; its dependencies come from the test environment. Every subprocess runs in a temporary directory with
only the target folder on PYTHONPATH, and checks that the code it ran came from that folder, not the checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out),
                            str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    [path] = out.glob("spotlab-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--target",
                           str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return target


def run_installed(installed: Path, cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(installed), "SPOTLAB_ARTIFACTS": str(cwd / "artifacts")}
    env.pop("PREFECT_API_URL", None)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_only_top_level_package_is_spotlab(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top_level == {"spotlab"}
    # The bundled configs ship as package data; spotlab itself is a namespace (no __init__ of its own).
    assert "spotlab/examples/quickstart.yaml" in names and "spotlab/examples/papers/def.yaml" in names
    assert "spotlab/__init__.py" not in names


def test_installed_code_is_what_runs_and_old_top_level_names_are_gone(installed, tmp_path):
    probe = run_installed(installed, tmp_path, "-c", "import spotlab.infra.cli as m; print(m.__file__)")
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert Path(probe.stdout.strip()).is_relative_to(installed)
    for old in ("infra", "models", "tasks", "flows"):
        gone = run_installed(installed, tmp_path, "-c", f"import {old}")
        assert gone.returncode != 0 and "ModuleNotFoundError" in gone.stderr


def test_validate_schema_and_quickstart_from_outside_the_checkout(installed, tmp_path):
    cli = ["-c", "from spotlab.infra.cli import app; app()"]
    valid = run_installed(installed, tmp_path, *cli, "validate", "quickstart")
    assert valid.returncode == 0, valid.stderr[-2000:]
    assert "valid" in valid.stdout
    schema = run_installed(installed, tmp_path, *cli, "schema", "train")
    assert schema.returncode == 0 and json.loads(schema.stdout)["type"] == "object"
    missing = run_installed(installed, tmp_path, *cli, "validate", "no-such-config")
    assert missing.returncode == 2 and "no bundled example" in missing.stderr
    run = run_installed(installed, tmp_path, *cli, "run", "quickstart", "--json")
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert result["stages"]["evaluate"]["accuracy"] >= 0.9
    assert Path(result["artifact_url"]).is_relative_to(tmp_path / "artifacts")
