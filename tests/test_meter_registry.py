"""Meter selection and fallbacks, plus the optional pyJoules and Joulescope backends."""

from __future__ import annotations

import os
import stat
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from ecoscore.runners.meters.base import Measurement, MeterError
from ecoscore.runners.meters.codecarbon_estimate import CodeCarbonCpuEstimate
from ecoscore.runners.meters.csv_log import CsvPowerLogMeter
from ecoscore.runners.meters.jetson import JetsonMeter
from ecoscore.runners.meters.joulescope_meter import JoulescopeMeter
from ecoscore.runners.meters.nvml import NvmlEnergyCounterMeter
from ecoscore.runners.meters.pyjoules_meter import PyJoulesMeter
from ecoscore.runners.meters.rapl import RaplMeter
from ecoscore.runners.meters.registry import available_meters, make_meter
from tests.fake_sysfs import (
    ClockedCounters,
    RaplZone,
    make_jetson_hwmon,
    make_powercap,
    write_device_tree_model,
)
from tests.test_meter_nvml import FakeNvml

BIG = 262_143_328_850


@pytest.fixture
def sysroot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(root))
    monkeypatch.setitem(sys.modules, "pynvml", None)  # this machine has no NVIDIA driver
    return root


@pytest.fixture
def unreadable_rapl(sysroot: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    paths = make_powercap(sysroot, [RaplZone("intel-rapl:0", "package-0", BIG)])
    paths["intel-rapl:0"].chmod(0o200)
    real_read_text = Path.read_text

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        # root ignores file modes: deny like the kernel does for a non-root user
        if not os.stat(self).st_mode & (stat.S_IRUSR | stat.S_IROTH):
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    return paths["intel-rapl:0"]


def test_auto_on_cpu_with_readable_rapl(sysroot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = make_powercap(sysroot, [RaplZone("intel-rapl:0", "package-0", BIG)])
    ClockedCounters().add(paths["intel-rapl:0"], 10.0, BIG).install(monkeypatch)
    meter, reason = make_meter("auto", "cpu")
    assert isinstance(meter, RaplMeter) and reason is None
    with meter:
        meter.begin_window()
        time.sleep(0.2)
        r = meter.end_window()
    assert r.mean_power_w == pytest.approx(10.0, rel=1e-4)


def test_auto_without_rapl_falls_back_with_reason(sysroot: Path) -> None:
    (sysroot / "sys/class/powercap").mkdir(parents=True)
    meter, reason = make_meter("auto", "cpu")
    assert isinstance(meter, CodeCarbonCpuEstimate)
    assert meter.info.measurement is Measurement.ESTIMATED
    assert reason is not None
    assert reason.startswith("no readable energy sensor: /sys/class/powercap has no intel-rapl")


def test_explicit_rapl_without_permission_returns_estimate_and_reason(
    unreadable_rapl: Path,
) -> None:
    meter, reason = make_meter("rapl")
    assert isinstance(meter, CodeCarbonCpuEstimate)
    assert reason is not None and "\n" not in reason
    assert (
        "permission denied" in reason and "chmod o+r" in reason and str(unreadable_rapl) in reason
    )


def test_auto_with_unreadable_rapl_says_why(unreadable_rapl: Path) -> None:
    meter, reason = make_meter("auto")
    assert isinstance(meter, CodeCarbonCpuEstimate)
    assert reason is not None and "permission denied" in reason


def test_explicit_requests_that_cannot_be_met_raise(sysroot: Path) -> None:
    with pytest.raises(MeterError, match="no Jetson INA3221 rails"):
        make_meter("jetson")
    with pytest.raises(MeterError, match="pip install nvidia-ml-py"):
        make_meter("nvml:0")
    with pytest.raises(MeterError, match="does not exist"):
        make_meter("rapl")  # no powercap at all: not a permission problem, so an error
    with pytest.raises(MeterError, match="unknown meter"):
        make_meter("wattmeter")
    with pytest.raises(MeterError, match="unknown RAPL domain set"):
        make_meter("rapl:core")
    with pytest.raises(MeterError, match="integer GPU index"):
        make_meter("nvml:first")
    with pytest.raises(MeterError, match="csv:PATH"):
        make_meter("csv:")


def test_auto_on_cuda_without_nvml_falls_back_and_says_the_gpu_is_not_covered(
    sysroot: Path,
) -> None:
    meter, reason = make_meter("auto", "cuda:0")
    assert isinstance(meter, CodeCarbonCpuEstimate)
    assert reason is not None and "pip install nvidia-ml-py" in reason and "GPU" in reason


def test_auto_on_cuda_uses_nvml(sysroot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    meter, reason = make_meter("auto", "cuda:0")
    assert isinstance(meter, NvmlEnergyCounterMeter) and reason is None
    assert meter.info.details["gpu_index"] == 1
    meter.close()


def test_auto_on_jetson(sysroot: Path) -> None:
    write_device_tree_model(sysroot, "NVIDIA Jetson AGX Orin Developer Kit")
    make_jetson_hwmon(sysroot, {"VDD_GPU_SOC": (5000, 1000), "VDD_CPU_CV": (5000, 500)})
    meter, reason = make_meter("auto", "cuda")
    assert isinstance(meter, JetsonMeter) and reason is None
    assert meter.info.boundary == "board-rails"


def test_csv_spec_and_declared_boundary(sysroot: Path, tmp_path: Path) -> None:
    log = tmp_path / "plug.csv"
    log.write_text("timestamp,power_w\n")
    meter, reason = make_meter(f"csv:{log}", boundary="wall")
    assert isinstance(meter, CsvPowerLogMeter) and reason is None
    assert meter.info.boundary == "wall"


def test_estimate_spec(sysroot: Path) -> None:
    meter, reason = make_meter("estimate")
    assert isinstance(meter, CodeCarbonCpuEstimate) and reason is None


def test_available_meters_describes_this_machine(sysroot: Path) -> None:
    rows = {row.spec: row for row in available_meters()}
    assert set(rows) >= {"rapl", "nvml", "jetson", "rpi", "pyjoules", "joulescope", "estimate"}
    assert not rows["rapl"].available and "does not exist" in rows["rapl"].description
    assert not rows["nvml"].available and "pip install nvidia-ml-py" in rows["nvml"].description
    assert rows["estimate"].measurement == "ESTIMATED"


# -- optional backends ----------------------------------------------------------------------


def test_pyjoules_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyJoules", None)
    with pytest.raises(MeterError, match="pip install pyJoules"):
        make_meter("pyjoules")


class FakeEnergyMeter:
    """pyJoules' EnergyMeter: start/stop, then a trace of samples with energy in uJ."""

    def __init__(self, watts: dict[str, float]) -> None:
        self.watts = watts
        self.t0 = 0.0
        self.trace: list[SimpleNamespace] = []

    def start(self, tag: str = "") -> None:
        self.t0 = time.perf_counter()

    def stop(self) -> None:
        dt = time.perf_counter() - self.t0
        energy = {k: w * dt * 1e6 for k, w in self.watts.items()}
        self.trace = [SimpleNamespace(tag="t", duration=dt, energy=energy)]

    def get_trace(self) -> list[SimpleNamespace]:
        return self.trace


def test_pyjoules_sums_package_and_dram() -> None:
    fake = FakeEnergyMeter({"package_0": 20.0, "dram_0": 3.0, "core_0": 9.0})
    meter = PyJoulesMeter(energy_meter=fake)
    assert meter.info.boundary == "cpu+dram"
    meter.begin_window()
    time.sleep(0.2)
    r = meter.end_window()
    assert r.mean_power_w == pytest.approx(23.0, rel=0.02)


def test_joulescope_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "joulescope", None)
    with pytest.raises(MeterError, match="pip install joulescope"):
        make_meter("joulescope")


class FakeJoulescope:
    """Calls the statistics callback at 50 Hz with a growing energy accumulator."""

    def __init__(self, power_w: float) -> None:
        self.power_w = power_w
        self.cb = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.params: dict[str, str] = {}

    def statistics_callback_register(self, cb, source: str = "sensor") -> None:
        self.cb = cb

    def parameter_set(self, name: str, value: str) -> None:
        self.params[name] = value

    def open(self) -> None:
        self.t0 = time.perf_counter()
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            e = self.power_w * (time.perf_counter() - self.t0)
            self.cb({"accumulators": {"energy": {"value": e, "units": "J"}}})


def test_joulescope_with_fake_device() -> None:
    device = FakeJoulescope(power_w=2.5)
    meter = JoulescopeMeter(boundary="usb-c input", device=device)
    assert meter.info.boundary == "usb-c input"
    with meter:
        time.sleep(0.05)
        meter.begin_window()
        time.sleep(0.4)
        r = meter.end_window()
    assert device.params["reduction_frequency"] == "50 Hz"
    assert r.valid, r.invalid_reason
    assert r.mean_power_w == pytest.approx(2.5, rel=0.02)
    assert JoulescopeMeter(device=FakeJoulescope(1.0)).info.boundary == "device-input"


def test_auto_on_jetson_without_rails_falls_back_with_reason(sysroot: Path) -> None:
    write_device_tree_model(sysroot, "NVIDIA Jetson Orin NX Developer Kit")  # no i2c tree
    meter, reason = make_meter("auto", "cuda")
    assert isinstance(meter, CodeCarbonCpuEstimate)
    assert reason is not None and "no Jetson INA3221 rails" in reason
