"""NVML meter against a fake pynvml: the energy-counter path and the power-polling path."""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace

import pytest

from ecoscore.runners.meters.base import Measurement, MeterError
from ecoscore.runners.meters.nvml import (
    NvmlEnergyCounterMeter,
    NvmlPowerPollingMeter,
    cuda_index_to_nvml,
    open_nvml_meter,
)


class FakeNVMLError(Exception):
    pass


class FakeNotSupported(FakeNVMLError):
    pass


class FakeNvml:
    """The subset of pynvml the meter calls, on a GPU drawing ``power_w``.

    The energy counter (mJ) advances every ``counter_period_s``, like the real one.
    """

    NVMLError = FakeNVMLError
    NVML_SUCCESS = 0
    NVML_FI_DEV_POWER_INSTANT = 186

    def __init__(
        self,
        power_w: float = 150.0,
        counter: bool = True,
        instant: bool = True,
        counter_period_s: float = 0.005,
    ) -> None:
        self.power_w = power_w
        self.counter = counter
        self.instant = instant
        self.counter_period_s = counter_period_s
        self.t0 = time.perf_counter()
        self.calls: list[str] = []
        self.initialised = 0

    def nvmlInit(self) -> None:
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self.initialised -= 1

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> tuple[str, int]:
        return ("gpu", index)

    def nvmlDeviceGetName(self, handle: object) -> str:
        return "NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetUUID(self, handle: object) -> bytes:
        return b"GPU-00000000-1111-2222-3333-444444444444"

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlSystemGetNVMLVersion(self) -> str:
        return "12.550.54.15"

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: object) -> int:
        return 700_000

    def nvmlDeviceGetCudaComputeCapability(self, handle: object) -> tuple[int, int]:
        return (9, 0)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: object) -> int:
        self.calls.append("energy")
        if not self.counter:
            raise FakeNotSupported("Not Supported")
        elapsed = time.perf_counter() - self.t0
        ticks = int(elapsed / self.counter_period_s)
        return 10_000_000 + int(self.power_w * ticks * self.counter_period_s * 1000)

    def nvmlDeviceGetPowerUsage(self, handle: object) -> int:
        self.calls.append("power_usage")
        return int(self.power_w * 1000)

    def nvmlDeviceGetFieldValues(self, handle: object, field_ids: list[int]) -> list[object]:
        self.calls.append("field_values")
        assert field_ids == [self.NVML_FI_DEV_POWER_INSTANT]
        status = 0 if self.instant else 3  # NVML_ERROR_NOT_SUPPORTED
        value = SimpleNamespace(uiVal=int(self.power_w * 1000))
        return [SimpleNamespace(fieldId=186, nvmlReturn=status, value=value)]


def test_energy_counter_path() -> None:
    fake = FakeNvml(power_w=150.0)
    meter = open_nvml_meter(0, nvml=fake)
    assert isinstance(meter, NvmlEnergyCounterMeter)
    with meter:
        meter.begin_window()
        time.sleep(0.5)
        r = meter.end_window()
    assert r.valid, r.invalid_reason
    assert r.mean_power_w == pytest.approx(150.0, rel=0.02)
    info = meter.info
    assert info.boundary == "gpu" and info.measurement is Measurement.MEASURED
    assert info.sampling_period_s == pytest.approx(0.005, rel=0.3)  # measured at start
    assert info.details["gpu_name"] == "NVIDIA H100 80GB HBM3"
    assert info.details["driver_version"] == "550.54.15"
    assert info.details["power_limit_w"] == 700.0
    assert info.details["gpu_uuid"].startswith("GPU-")
    assert "Part-time" in str(info.details["part_time_sensor"])
    # observed: the reads during the window that saw the counter change (every 10 ms at
    # most), never more than the counter's own updates
    assert 0 < r.sensor_updates <= int(r.duration_s / info.sampling_period_s) + 1
    assert meter.observation_period_s() == pytest.approx(0.01)
    assert set(r.details["gpu_state"]) == {"begin", "end"}
    assert fake.initialised == 0  # nvmlShutdown on close


def test_polling_fallback_with_instant_power() -> None:
    fake = FakeNvml(power_w=80.0, counter=False)
    meter = open_nvml_meter(1, nvml=fake, poll_period_s=0.005)
    assert isinstance(meter, NvmlPowerPollingMeter)
    with meter:
        meter.begin_window()
        time.sleep(0.5)
        r = meter.end_window()
    assert r.valid, r.invalid_reason
    assert r.energy_j == pytest.approx(80.0 * r.duration_s, rel=0.02)
    assert meter.info.details["instantaneous_power"] is True
    assert "Volta" in str(meter.info.details["why_polling"])
    assert meter.info.details["gpu_index"] == 1
    assert "power_usage" not in fake.calls
    assert r.sensor_updates is not None and r.sensor_updates > 50


def test_polling_falls_back_to_power_usage_and_says_so() -> None:
    fake = FakeNvml(power_w=40.0, counter=False, instant=False)
    with open_nvml_meter(0, nvml=fake, poll_period_s=0.005) as meter:
        meter.begin_window()
        time.sleep(0.3)
        r = meter.end_window()
    assert r.valid
    assert r.mean_power_w == pytest.approx(40.0, rel=0.02)
    assert meter.info.details["instantaneous_power"] is False
    assert "one-second average" in str(meter.info.details["power_call"])


def test_counter_going_backwards_is_invalid() -> None:
    fake = FakeNvml()
    with open_nvml_meter(0, nvml=fake, measure_period=False) as meter:
        assert meter.info.details["counter_update_period_source"].startswith("assumed")
        meter.begin_window()
        fake.t0 += 1000  # the counter restarts lower: a GPU reset
        r = meter.end_window()
    assert not r.valid and "went backwards" in (r.invalid_reason or "")


def test_counter_only_mode_refuses_polling() -> None:
    with pytest.raises(MeterError, match="energy counter not available"):
        open_nvml_meter(0, nvml=FakeNvml(counter=False), mode="counter")


def test_bad_index() -> None:
    fake = FakeNvml()
    with pytest.raises(MeterError, match="no GPU with index 5"):
        open_nvml_meter(5, nvml=fake)
    assert fake.initialised == 0


def test_missing_pynvml_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    with pytest.raises(MeterError, match="pip install nvidia-ml-py"):
        open_nvml_meter(0)


def test_pynvml_from_sys_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(power_w=60.0)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    with open_nvml_meter(0, measure_period=False) as meter:
        meter.begin_window()
        time.sleep(0.3)
        r = meter.end_window()
    assert r.mean_power_w == pytest.approx(60.0, rel=0.03)


def test_cuda_visible_devices_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert cuda_index_to_nvml(0) == 2 and cuda_index_to_nvml(1) == 3
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert cuda_index_to_nvml(1) == 1


def test_nvml_error_mid_window_makes_the_window_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml()
    with open_nvml_meter(0, nvml=fake, measure_period=False) as meter:
        meter.begin_window()

        def lost(handle: object) -> int:
            raise FakeNVMLError("GPU is lost")

        monkeypatch.setattr(fake, "nvmlDeviceGetTotalEnergyConsumption", lost)
        r = meter.end_window()
    assert not r.valid
    assert r.energy_j == 0.0
    assert "NVML energy read failed: GPU is lost" in (r.invalid_reason or "")
