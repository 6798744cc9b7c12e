"""results/reference/device_idle.py: the committed H100 records read against the GPU's
device idle (no CUDA context) from the committed nvidia-smi log. The figures quoted in
results/reference/README.md and docs/METHODOLOGY.md come from this test's run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "results" / "reference" / "device_idle.py"


@pytest.fixture(scope="module")
def rows():
    spec = importlib.util.spec_from_file_location("device_idle", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return {(r["workload"], r["precision"]): r for r in mod.device_idle_rows()}


def test_every_gpu_record_has_a_device_idle_from_the_log(rows) -> None:
    assert len(rows) == 6
    for r in rows.values():
        assert 70.0 <= r["device_idle_w"] <= 74.0  # no CUDA context
        assert 117.0 <= r["ready_idle_w"] <= 124.0  # the records' idle: context held
        assert r["ready_idle_w"] - r["device_idle_w"] == pytest.approx(49, abs=3)


def test_energy_above_device_idle_is_36_to_320_times_the_old_net(rows) -> None:
    above = [r["above_device_idle_mj"] for r in rows.values()]
    assert min(above) == pytest.approx(10.6, abs=0.05)
    assert max(above) == pytest.approx(25.3, abs=0.05)
    ratios = [r["above_device_idle_mj"] / r["net_mj"] for r in rows.values()]
    assert 36 < min(ratios) < 37 and 319 < max(ratios) < 321
    assert rows[("vision-digits", "fp32")]["gross_mj"] == pytest.approx(61.9, abs=0.05)
    for r in rows.values():  # the device's own idle is 59-60 % of gross, not 98.5-99.9 %
        assert 0.58 < r["device_idle_share"] < 0.61
