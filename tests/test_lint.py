"""The code base stays ruff-clean (lint and format), checked with the test suite."""

import importlib.util
import subprocess
import sys

import pytest


def _ruff() -> list[str]:
    if importlib.util.find_spec("ruff") is None:
        pytest.fail("ruff is missing: install the test extra (pip install -e '.[test]')")
    return [sys.executable, "-m", "ruff"]


def test_ruff_check(repo):
    res = subprocess.run([*_ruff(), "check", "."], cwd=repo, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_format(repo):
    res = subprocess.run(
        [*_ruff(), "format", "--check", "."], cwd=repo, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_python_version():
    assert sys.version_info >= (3, 11)
