"""Fixtures of the perf benchmarks, and the summary of their figures.

Run them with ``pytest tests/perf --benchmark-only`` (the normal test run skips them).
The engine is onnxruntime on one thread with the smallest ONNX model of the bundled
reference models (the worst case for harness overhead: the shortest engine call), or the
file named by ``ECOSCORE_PERF_MODEL``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.perf.figures import FIGURES

REPO = Path(__file__).resolve().parents[2]


def smallest_reference_onnx() -> tuple[str, Path]:
    """(workload, file) of the smallest .onnx file listed in models/*/manifest.json."""
    found: list[tuple[int, str, Path]] = []
    for manifest in sorted((REPO / "models").glob("*/manifest.json")):
        doc = json.loads(manifest.read_text())
        for m in doc["models"]:
            name = m["files"].get("onnx")
            if name:
                path = manifest.parent / name
                found.append((path.stat().st_size, doc["workload"], path))
    if not found:
        pytest.skip("no ONNX reference model in models/*/manifest.json")
    _, workload, path = min(found)
    return workload, path


@pytest.fixture(scope="session")
def perf_model() -> tuple[str, Path]:
    override = os.environ.get("ECOSCORE_PERF_MODEL")
    if override:
        workload = os.environ.get("ECOSCORE_PERF_WORKLOAD", "vision-digits")
        return workload, Path(override)
    return smallest_reference_onnx()


@pytest.fixture(scope="session")
def perf_engine(perf_model: tuple[str, Path]) -> Iterator[object]:
    from ecoscore.runners.engines.registry import make_engine

    engine = make_engine("onnxruntime", threads=1)
    engine.load(perf_model[1])
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def perf_inputs(perf_model: tuple[str, Path]) -> np.ndarray:
    from ecoscore.benchmarks.registry import get_workload

    return get_workload(perf_model[0]).eval_split().x


def make_batches(engine: object, x: np.ndarray, batch_size: int, count: int = 64) -> list:
    """Batches prepared once, cycling through the inputs, as the ecoscore run makes them."""
    n = len(x)
    out = []
    for b in range(count):
        idx = (np.arange(batch_size) + b * batch_size) % n
        out.append(engine.prepare(np.ascontiguousarray(x[idx])))  # type: ignore[attr-defined]
    return out


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    tr = terminalreporter
    tr.section("ecoscore harness figures")
    for title, lines in FIGURES.items():
        tr.write_line(title)
        for label, text in lines:
            tr.write_line(f"  {label:<44} {text}")
