"""A sum of meters (``--meter nvml+rapl``): a GPU run that counts its host CPU too, at the
boundary ``gpu+cpu-package``, against a fake NVML (150 W) and a fake RAPL tree (10 W)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from ecoscore.checks import check_record
from ecoscore.runners.meters.base import Measurement, MeterError, WindowReading
from ecoscore.runners.meters.composite import SumConfig, SumMeter
from ecoscore.runners.meters.nvml import NvmlConfig
from ecoscore.runners.meters.rapl import RaplConfig
from ecoscore.runners.meters.registry import (
    RecordedMeterError,
    config_from_record,
    make_meter,
    split_sum,
)
from tests.fake_sysfs import ClockedCounters, RaplZone, make_powercap
from tests.fakes import ConstantPowerMeter
from tests.record_factory import make_record
from tests.test_meter_nvml import FakeNvml

BIG = 262_143_328_850


@pytest.fixture
def gpu_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A machine with one GPU at 150 W and a CPU package at 10 W."""
    monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(tmp_path))
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(power_w=150.0))
    paths = make_powercap(tmp_path, [RaplZone("intel-rapl:0", "package-0", BIG)])
    ClockedCounters().add(paths["intel-rapl:0"], 10.0, BIG).install(monkeypatch)
    return tmp_path


def test_nvml_plus_rapl_adds_the_host_cpu_to_the_gpu(gpu_host: Path) -> None:
    meter, reason = make_meter("nvml+rapl:package", "cuda:0")
    assert reason is None and isinstance(meter, SumMeter)
    assert meter.info.name == "nvml+rapl"
    assert meter.info.boundary == "gpu+cpu-package"
    assert meter.info.measurement is Measurement.MEASURED
    assert [p["boundary"] for p in meter.info.details["parts"]] == ["gpu", "cpu-package"]
    with meter:
        meter.begin_window()
        time.sleep(0.4)
        r = meter.end_window()
    assert r.valid, r.invalid_reason
    gpu, cpu = r.details["parts"]
    assert gpu["energy_j"] / gpu["duration_s"] == pytest.approx(150.0, rel=0.05)
    assert cpu["energy_j"] / cpu["duration_s"] == pytest.approx(10.0, rel=1e-3)
    assert r.energy_j == gpu["energy_j"] + cpu["energy_j"]
    assert r.mean_power_w == pytest.approx(160.0, rel=0.05)
    assert r.sensor_updates == min(gpu["sensor_updates"], cpu["sensor_updates"])


def test_the_recorded_config_rebuilds_the_same_sum(gpu_host: Path) -> None:
    meter, _ = make_meter("nvml+rapl", "cuda:0")
    stored = meter.config.model_dump(mode="json")
    assert stored["meter"] == "sum"
    assert [p["meter"] for p in stored["parts"]] == ["nvml", "rapl"]
    again = config_from_record(stored)
    assert again == meter.config
    assert isinstance(again, SumConfig) and isinstance(again.parts[0], NvmlConfig)
    meter.close()


def test_a_plus_inside_an_argument_stays_in_it() -> None:
    assert split_sum("nvml:1+rapl:package+dram") == ["nvml:1", "rapl:package+dram"]
    assert split_sum("rapl:package+dram") == ["rapl:package+dram"]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("nvml+estimate", "estimate is an estimate, not a sensor"),
        ("nvml+csv:power.csv", "reads an external instrument's log"),
        ("rapl+pyjoules", "read the same sensor"),
        ("nvml+rapl+rapl:package", "read the same sensor"),
        ("nvml+nvml", "read the same sensor"),
    ],
)
def test_a_sum_refuses_estimates_logs_and_double_counting(
    gpu_host: Path, spec: str, says: str
) -> None:
    with pytest.raises(MeterError, match=says):
        make_meter(spec, "cuda:0")


def test_a_record_cannot_smuggle_an_estimate_or_a_file_into_a_sum() -> None:
    nvml = {"meter": "nvml", "index": 0, "mode": "counter", "poll_period_s": 0.02}
    with pytest.raises(RecordedMeterError, match="not a sensor"):
        config_from_record({"meter": "sum", "parts": [nvml, {"meter": "estimate"}]})
    with pytest.raises(RecordedMeterError, match="never opened|external"):
        config_from_record(
            {"meter": "sum", "parts": [nvml, {"meter": "csv", "path": "/etc/passwd"}]}
        )
    with pytest.raises(RecordedMeterError, match="itself a sum"):
        config_from_record({"meter": "sum", "parts": [nvml, {"meter": "sum", "parts": []}]})


def test_one_invalid_part_makes_the_window_invalid_and_says_which() -> None:
    class Failing(ConstantPowerMeter):
        def _end(self, duration_s: float) -> WindowReading:
            return WindowReading(0.0, duration_s, 0, False, "sensor error: gone")

    good, bad = ConstantPowerMeter(100.0, 0.001), Failing(10.0, 0.001)
    bad.info = type(bad.info)("gone", "test", "cpu-package", Measurement.MEASURED, 0.001, 0.05)
    config = SumConfig(parts=(NvmlConfig(), RaplConfig()))
    meter = SumMeter([good, bad], config)
    assert meter.info.uncertainty_rel == 0.05  # the largest part's
    meter.begin_window()
    r = meter.end_window()
    assert not r.valid and r.invalid_reason == "gone: sensor error: gone"


def test_verify_accepts_the_joined_boundary_and_refuses_a_part_alone() -> None:
    rec = make_record(boundary="gpu+cpu-package")
    assert not [f for f in check_record(rec).findings if f.rule == "boundary-matches-meter"]
    lying = make_record(boundary="gpu+cpu-package", updates={"meter": {"boundary": "gpu"}})
    found = [f for f in check_record(lying).findings if f.rule == "boundary-matches-meter"]
    assert found and "its parts' boundaries joined with +" in found[0].message
