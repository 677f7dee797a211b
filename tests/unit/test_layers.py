"""Layering rules of ARCHITECTURE.md, checked on the imports of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def root_of(module: str) -> str:
    """The layer a module belongs to: ``spotlab.tasks.x`` -> ``tasks``; a third-party module -> its top name."""
    parts = module.split(".")
    return parts[1] if parts[0] == "spotlab" and len(parts) > 1 else parts[0]


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {root_of(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(root_of(node.module))
    return roots


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", modules("models"), ids=rel)
def test_models_import_only_torch_level_code(path):
    assert not imported_roots(path) & {"prefect", "infra", "tasks", "flows", "boto3", "kubernetes"}


ALGORITHMS = [p for p in modules("tasks") if p.name not in ("task.py", "stage.py", "worker.py")]


@pytest.mark.parametrize("path", ALGORITHMS, ids=rel)
def test_algorithms_never_import_orchestration_or_cloud_clients(path):
    assert not imported_roots(path) & {"prefect", "infra", "flows", "boto3", "kubernetes"}


@pytest.mark.parametrize("path", [p for p in modules("tasks") if p.name in ("stage.py", "worker.py")], ids=rel)
def test_stages_do_io_through_infra_but_never_import_prefect(path):
    assert "prefect" not in imported_roots(path)


def test_prefect_is_imported_only_by_flows_task_wrappers_and_infra():
    offenders = [
        rel(p)
        for package in ("models", "tasks")
        for p in modules(package)
        if "prefect" in imported_roots(p) and p.name != "task.py"
    ]
    assert offenders == []


@pytest.mark.parametrize("path", modules("infra"), ids=rel)
def test_infra_does_not_import_flows_at_module_level(path):
    # The CLI and API start flows lazily (inside functions) so that infra stays importable without them.
    tree = ast.parse(path.read_text())
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not any(
        (isinstance(n, ast.ImportFrom) and root_of(n.module or "") == "flows")
        or (isinstance(n, ast.Import) and any(root_of(a.name) == "flows" for a in n.names))
        for n in top_level
    )
