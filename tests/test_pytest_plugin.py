"""The eco_benchmark pytest plugin, run in a child pytest as a researcher would run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecoscore.record import load_record

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]

SUITE = """
import numpy as np

def work(x):
    return float(np.sum(x * x))

def test_work(eco_benchmark):
    x = np.arange(1000, dtype=np.float64)
    assert eco_benchmark(work, x) > 0

def test_work_pedantic(eco_benchmark):
    eco_benchmark.pedantic(work, args=(np.ones(10),), rounds=20, warmup_rounds=1)
    assert eco_benchmark.extra_info["window_duration_s"] >= 0.3

def test_record(eco_benchmark):
    eco_benchmark(work, np.ones(100))
    path = eco_benchmark.write_record(
        "vision-digits", MODEL, 0.97, model_name="digits-logreg", role="baseline"
    )
    print("RECORD", path)
"""


@pytest.fixture
def child(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    model = REPO / "models" / "vision_digits" / "digits_logreg.onnx"
    pytester.makepyfile(test_suite=f"MODEL = {str(model)!r}\n" + SUITE)
    return pytester


def _plugin_args() -> list[str]:
    """``-p ecoscore.runners.pytest_plugin`` unless the installed ``pytest11`` entry point loads it
    already (loading it twice is an error)."""
    from importlib.metadata import entry_points

    installed = any(
        ep.value == "ecoscore.runners.pytest_plugin" for ep in entry_points(group="pytest11")
    )
    return [] if installed else ["-p", "ecoscore.runners.pytest_plugin"]


def test_the_plugin_is_registered_by_the_package():
    from importlib.metadata import entry_points

    assert "ecoscore.runners.pytest_plugin" in {ep.value for ep in entry_points(group="pytest11")}


def run_child(child: pytest.Pytester, *extra: str):
    return child.runpytest_subprocess(
        *_plugin_args(),
        "--eco-meter",
        "estimate",
        "--eco-idle-s",
        "0.2",
        "--eco-min-window-s",
        "0.3",
        "--benchmark-max-time",
        "0.05",
        "-s",
        *extra,
    )


def test_joules_per_call_land_in_the_benchmark_json(child: pytest.Pytester):
    out_json = child.path / "bench.json"
    records = child.path / "results"
    result = run_child(child, f"--benchmark-json={out_json}", f"--eco-record-dir={records}")
    result.assert_outcomes(passed=3)
    benches = {b["name"]: b for b in json.loads(out_json.read_text())["benchmarks"]}
    info = benches["test_work"]["extra_info"]
    assert info["energy_measurement"] == "ESTIMATED"  # the CodeCarbon model, said so
    assert info["meter"] == "codecarbon-estimate"
    assert info["energy_boundary"] == "cpu-package"
    assert info["window_duration_s"] >= 0.3  # extended to the minimum window
    assert info["window_valid"] is True
    mean = benches["test_work"]["stats"]["mean"]
    assert info["joules_per_call"] == pytest.approx(info["window_mean_power_w"] * mean)
    assert info["idle_power_w"] is not None
    # one record, readable, integrity-checked, with the benchmark's energy per inference
    files = list((records / "runs").glob("*.json"))
    assert len(files) == 1
    rec = load_record(files[0])
    assert rec.meter.measurement == "ESTIMATED"
    assert rec.model.name == "digits-logreg"
    scen = rec.scenario("single_stream")
    assert scen is not None and scen.latency is not None
    joules = benches["test_record"]["extra_info"]["joules_per_call"]
    assert scen.energy_per_inference_j.median == pytest.approx(joules, rel=0.05)
    assert rec.run.quick is True  # one short window is not the workload's protocol


def test_write_record_without_a_folder_is_a_usage_error(child: pytest.Pytester):
    result = run_child(child, "-k", "test_record")
    result.assert_outcomes(errors=0, failed=1)
    result.stdout.fnmatch_lines(["*write_record() needs --eco-record-dir*"])


def test_disabled_benchmarks_do_not_meter(child: pytest.Pytester):
    result = run_child(child, "--benchmark-disable", "-k", "test_work and not pedantic")
    result.assert_outcomes(passed=1)
