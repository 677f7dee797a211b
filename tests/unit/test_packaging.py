"""The distribution maps every package folder of the design card's layout under the one namespace ``spotlab``."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def folder_packages() -> set[str]:
    found = set()
    for top in ("flows", "tasks", "models", "infra"):
        for init in (ROOT / top).rglob("__init__.py"):
            found.add(".".join(("spotlab",) + init.parent.relative_to(ROOT).parts))
    for folder in [ROOT / "examples", *(p for p in (ROOT / "examples").rglob("*") if p.is_dir())]:
        if any(folder.glob("*.yaml")):
            found.add(".".join(("spotlab",) + folder.relative_to(ROOT).parts))
    return found


def test_every_package_folder_is_listed_and_nothing_else():
    assert set(SETUPTOOLS["packages"]) == folder_packages()


def test_every_listed_package_lives_under_spotlab_and_maps_to_its_folder():
    assert all(name.startswith("spotlab.") for name in SETUPTOOLS["packages"])
    assert SETUPTOOLS["package-dir"] == {f"spotlab.{top}": top for top in ("flows", "tasks", "models", "infra",
                                                                           "examples")}
