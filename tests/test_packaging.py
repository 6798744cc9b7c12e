"""The wheel installs one top-level package, ``ecoscore``, and works from a folder that has
its own ``models/`` and ``benchmarks/`` packages, as most ML repositories do: ``python -m
ecoscore run --quick`` and the pytest plugin's ``write_record()``.

The wheel is built from this checkout and unpacked into a fresh virtual environment whose
only other packages are this environment's, made visible through a ``.pth`` file (so the
test needs no network); ecoscore's editable install is not visible there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SITE = Path(sysconfig.get_paths()["purelib"])

USER_TEST = """
import numpy as np

def test_predict(eco_benchmark):
    eco_benchmark(np.sum, np.ones(100))
    path = eco_benchmark.write_record("vision-digits", MODEL, 0.97, model_name="mine")
    print("RECORD", path)
"""


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = set()
    for package, folder in cfg["package-dir"].items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            found.add(".".join([package, *rel.parts]) if rel.parts else package)
    assert found == listed


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the tracked files (setuptools writes build/ beside
    the sources: not in the checkout)."""
    out = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("src")
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (t.decode() for t in tracked)):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    (whl,) = out.glob("ecoscore-*.whl")
    return whl


def test_the_wheel_installs_only_the_ecoscore_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"ecoscore"}
    for layer in ("benchmarks", "models", "runners"):
        assert f"ecoscore/{layer}/__init__.py" in names
    assert "ecoscore/models/vision_digits/digits_cnn.onnx" in names
    assert "ecoscore/scales/2026.1.toml" in names
    for example in ("workload.toml", "defect_cnn.onnx", "defect_filters.onnx", "manifest.json"):
        assert f"ecoscore/benchmarks/examples/defect_scratch/{example}" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "ecoscore.runners.pytest_plugin" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel unpacked in it; returns its python."""
    root = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            text=True,
        ).strip()
    )
    zipfile.ZipFile(wheel).extractall(site)
    (site / "zz_dependencies.pth").write_text(str(SITE) + "\n")
    return python


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    """A user's repository with its own ``models`` and ``benchmarks`` packages."""
    for name in ("models", "benchmarks"):
        pkg = tmp_path / name
        pkg.mkdir()
        (pkg / "__init__.py").write_text(f'"""The user\'s own {name}."""\nOWNER = "user"\n')
        (pkg / "registry.py").write_text("raise ImportError('the user registry, not ecoscore')\n")
    return tmp_path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ECOSCORE_SYSFS_ROOT")}
    env["PYTHONPATH"] = ""
    return env


def test_run_from_a_repository_with_its_own_models_and_benchmarks(
    installed: Path, user_repo: Path
) -> None:
    probe = subprocess.run(
        [str(installed), "-c", "import ecoscore, models; print(ecoscore.__file__, models.OWNER)"],
        cwd=user_repo,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0, probe.stderr
    where, owner = probe.stdout.split()
    assert "site-packages" in where and not where.startswith(str(REPO)) and owner == "user"
    res = subprocess.run(
        [str(installed), "-m", "ecoscore", "run", "--quick", "--repeats", "1",
         "-w", "vision-digits", "--meter", "estimate", "--out", "out"],
        cwd=user_repo,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(list((user_repo / "out" / "runs").glob("*.json"))) == 1


def test_the_pytest_plugin_writes_a_record_from_such_a_repository(
    installed: Path, user_repo: Path
) -> None:
    from ecoscore.record import load_record

    model = REPO / "models" / "vision_digits" / "digits_logreg.onnx"
    (user_repo / "test_mine.py").write_text(f"MODEL = {str(model)!r}\n" + USER_TEST)
    res = subprocess.run(
        [str(installed), "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "test_mine.py",
         "--eco-meter", "estimate", "--eco-idle-s", "0.1", "--eco-min-window-s", "0.1",
         "--eco-record-dir", "records", "--benchmark-min-rounds", "3"],
        cwd=user_repo,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    (path,) = (user_repo / "records" / "runs").glob("*.json")
    assert load_record(path).model.name == "mine"
