"""Jetson INA3221 meter against fake hwmon and iio sysfs trees."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from ecoscore.runners.meters.base import Measurement, MeterError
from ecoscore.runners.meters.jetson import JetsonMeter, is_jetson, jetson_status
from tests.fake_sysfs import make_jetson_hwmon, make_jetson_iio, write_device_tree_model


@pytest.fixture
def sysroot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(tmp_path))
    return tmp_path


def _window(meter: JetsonMeter, seconds: float):
    with meter:
        meter.begin_window()
        time.sleep(seconds)
        return meter.end_window()


def test_orin_nano_vdd_in_5v_1a(sysroot: Path) -> None:
    write_device_tree_model(sysroot, "NVIDIA Jetson Orin Nano Developer Kit")
    make_jetson_hwmon(
        sysroot,
        {"VDD_IN": (5000, 1000), "VDD_CPU_GPU_CV": (5000, 400), "VDD_SOC": (5000, 300)},
    )
    meter = JetsonMeter()
    r = _window(meter, 0.5)
    assert r.valid, r.invalid_reason
    assert r.mean_power_w == pytest.approx(5.0, rel=0.02)
    assert meter.info.boundary == "board-input"
    assert meter.info.measurement is Measurement.MEASURED
    assert meter.info.details["rails_summed"] == ["VDD_IN"]
    assert meter.info.details["board_model"] == "NVIDIA Jetson Orin Nano Developer Kit"
    assert meter.info.details["sensor_update_interval_ms"] == 5
    assert r.sensor_updates is not None and r.sensor_updates >= 30  # ~100 Hz
    assert is_jetson()


def test_agx_orin_sums_rails_and_says_so(sysroot: Path) -> None:
    write_device_tree_model(sysroot, "NVIDIA Jetson AGX Orin Developer Kit")
    make_jetson_hwmon(
        sysroot,
        {"VDD_GPU_SOC": (5000, 1200), "VDD_CPU_CV": (5000, 600), "VIN_SYS_5V0": (5000, 400)},
    )
    make_jetson_hwmon(
        sysroot, {"NC": (0, 0), "VDDQ_VDD2_1V8AO": (5000, 200)}, i2c_addr="1-0041", hwmon="hwmon4"
    )
    meter = JetsonMeter()
    r = _window(meter, 0.4)
    assert meter.info.boundary == "board-rails"
    assert meter.info.details["rails_summed"] == [
        "VDD_GPU_SOC",
        "VDD_CPU_CV",
        "VIN_SYS_5V0",
        "VDDQ_VDD2_1V8AO",
    ]
    assert "only" in str(meter.info.details["coverage"])
    assert r.mean_power_w == pytest.approx(12.0, rel=0.02)
    ok, line = jetson_status()
    assert ok and "board-rails" in line


def test_older_iio_layout_pom_5v_in(sysroot: Path) -> None:
    write_device_tree_model(sysroot, "NVIDIA Jetson Nano Developer Kit")
    make_jetson_iio(
        sysroot, {"POM_5V_IN": (5000, 800), "POM_5V_GPU": (5000, 100), "POM_5V_CPU": (5000, 200)}
    )
    meter = JetsonMeter()
    r = _window(meter, 0.3)
    assert meter.info.boundary == "board-input"
    assert meter.info.details["layout"] == "iio"
    assert r.mean_power_w == pytest.approx(4.0, rel=0.02)


def test_explicit_rails(sysroot: Path) -> None:
    make_jetson_hwmon(sysroot, {"VDD_IN": (5000, 1000), "VDD_SOC": (5000, 300)})
    meter = JetsonMeter(rails=["VDD_SOC"])
    assert meter.info.boundary == "board-rails"
    assert _window(meter, 0.2).mean_power_w == pytest.approx(1.5, rel=0.02)
    with pytest.raises(MeterError, match="not found"):
        JetsonMeter(rails=["VDD_GPU"])


def test_power_step_is_integrated(sysroot: Path) -> None:
    d = make_jetson_hwmon(sysroot, {"VDD_IN": (5000, 1000)})
    with JetsonMeter() as meter:
        meter.begin_window()
        time.sleep(0.3)
        (d / "curr1_input").write_text("3000\n")  # 5 W -> 15 W
        time.sleep(0.3)
        r = meter.end_window()
    assert r.valid
    assert r.mean_power_w == pytest.approx(10.0, rel=0.05)


def test_sensor_removed_mid_window_is_invalid(sysroot: Path) -> None:
    d = make_jetson_hwmon(sysroot, {"VDD_IN": (5000, 1000)})
    with JetsonMeter() as meter:
        meter.begin_window()
        time.sleep(0.1)
        shutil.rmtree(d)
        time.sleep(0.1)
        r = meter.end_window()
    assert not r.valid
    assert "in1_input" in (r.invalid_reason or "")


def test_no_rails(sysroot: Path) -> None:
    with pytest.raises(MeterError, match="no Jetson INA3221 rails"):
        JetsonMeter()
    assert not is_jetson()
