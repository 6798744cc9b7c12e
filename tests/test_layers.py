"""The layers of the data flow are enforced by import-linter (contracts in pyproject.toml).

lint-imports finds a package's modules by walking its folder, so it needs the installed
layout (ecoscore/benchmarks/, ecoscore/runners/, ...), while the repository keeps those
folders at the top. This test lays the sources out as the wheel does (by the package-dir
mapping of pyproject.toml, nothing else) in a temporary folder and lints that copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def installed_layout(dest: Path) -> Path:
    """Copy every package's .py files to where the wheel puts them; return the root."""
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    package_dir: dict[str, str] = cfg["package-dir"]
    for package in cfg["packages"]:
        # the longest mapped prefix decides where a package's files are
        prefix = max(
            (p for p in package_dir if package == p or package.startswith(p + ".")), key=len
        )
        rest = package[len(prefix) :].lstrip(".").split(".") if package != prefix else []
        source = REPO / package_dir[prefix] / Path(*rest)
        target = dest / Path(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for f in source.glob("*.py"):
            shutil.copy2(f, target / f.name)
    return dest


def lint(root: Path, config: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.fail("lint-imports is not installed: run bash .ci/setup (the test extra has it)")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(exe), "--config", str(config), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_import_contracts_are_kept(tmp_path: Path) -> None:
    root = installed_layout(tmp_path / "site")
    res = lint(root, REPO / "pyproject.toml")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 2 kept, 0 broken." in res.stdout


def test_a_runner_that_imports_grading_breaks_the_layers(tmp_path: Path) -> None:
    """The contract can fail: a runners module that imports the grade is reported."""
    root = installed_layout(tmp_path / "site")
    bad = root / "ecoscore" / "runners" / "loop.py"
    bad.write_text(bad.read_text() + "\nfrom ecoscore.grading.grade import grade_record  # noqa\n")
    res = lint(root, REPO / "pyproject.toml")
    assert res.returncode != 0
    assert "ecoscore.runners.loop -> ecoscore.grading.grade" in res.stdout
