import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Keep the test runs light on a 2-core machine and independent of the host's settings.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(autouse=True)
def _no_debug_left_over():
    """``ecoscore --debug`` sets a module flag; no test may leave it set for the next one."""
    yield
    from ecoscore.commands import common

    common.DEBUG = False


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ANN001, ANN201
    """How many generated cases each property test ran (tests/hostile.py counts them)."""
    import sys

    hostile = sys.modules.get("tests.hostile")
    cases = getattr(hostile, "CASES", None)
    if cases:
        terminalreporter.section("hostile property tests: generated cases run")
        for name, n in sorted(cases.items()):
            terminalreporter.write_line(f"{n:6d}  {name}")
        terminalreporter.write_line(f"{sum(cases.values()):6d}  in all")


@pytest.fixture
def no_sensors(tmp_path, monkeypatch):
    """A machine with no energy sensor: an empty /sys, the real /proc/stat."""
    root = tmp_path / "sysroot"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "stat").symlink_to("/proc/stat")
    (root / "proc" / "cpuinfo").symlink_to("/proc/cpuinfo")
    monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(root))
    return root
