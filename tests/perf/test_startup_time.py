"""Start-up wall time of `python -m ecoscore --help` and `python -m ecoscore workloads`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.perf.conftest import REPO
from tests.perf.figures import report


@pytest.mark.benchmark(group="start-up (wall time, fresh interpreter)")
@pytest.mark.parametrize("args", [["--help"], ["workloads"]], ids=["help", "workloads"])
def test_startup_wall_time(benchmark, args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def start() -> int:
        return subprocess.run(
            [sys.executable, "-m", "ecoscore", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        ).returncode

    assert benchmark.pedantic(start, rounds=5, warmup_rounds=1) == 0
    median = benchmark.stats.stats.median
    report("start-up wall time (median of 5)", f"ecoscore {' '.join(args)}", f"{median:.3f} s")
    assert median < 5.0
