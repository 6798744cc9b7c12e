"""Raspberry Pi 5 PMIC meter with an injected command runner."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ecoscore.runners.meters.base import MeterError
from ecoscore.runners.meters.raspberry_pi import (
    RaspberryPiPmicMeter,
    is_raspberry_pi_5,
    parse_pmic_adc,
    rails_power_w,
    rpi_status,
)
from tests.fake_sysfs import write_device_tree_model

SAMPLE = """\
 3V7_WL_SW_A current(0)=0.00390372A
 3V3_SYS_A current(1)=0.06441138A
 1V8_SYS_A current(2)=0.17565810A
 DDR_VDD2_A current(3)=0.02049453A
 VDD_CORE_A current(7)=2.00000000A
 3V7_WL_SW_V volt(8)=3.71554900V
 3V3_SYS_V volt(9)=3.30427100V
 1V8_SYS_V volt(10)=1.79951400V
 DDR_VDD2_V volt(11)=1.11184500V
 VDD_CORE_V volt(15)=0.80000000V
 EXT5V_V volt(24)=5.12872000V
 BATT_V volt(25)=0.00000000V
"""


def _expected(text: str) -> float:
    return sum(v * a for v, a in parse_pmic_adc(text).values() if v is not None and a is not None)


def test_parse_pairs_volts_and_amps() -> None:
    rails = parse_pmic_adc(SAMPLE)
    assert rails["VDD_CORE"] == (0.8, 2.0)
    assert rails["EXT5V"] == (5.12872, None)
    expected = (
        3.715549 * 0.00390372
        + 3.304271 * 0.06441138
        + 1.799514 * 0.1756581
        + 1.111845 * 0.02049453
        + 0.8 * 2.0
    )
    assert rails_power_w(rails) == pytest.approx(expected, rel=1e-9)


def test_window_energy_and_details(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(tmp_path))
    write_device_tree_model(tmp_path, "Raspberry Pi 5 Model B Rev 1.0")
    calls = 0

    def runner() -> str:
        nonlocal calls
        calls += 1
        time.sleep(0.002)  # the real command takes milliseconds
        return SAMPLE

    meter = RaspberryPiPmicMeter(run_command=runner)
    with meter:
        meter.begin_window()
        time.sleep(0.5)
        r = meter.end_window()
    assert r.valid, r.invalid_reason
    assert r.mean_power_w == pytest.approx(_expected(SAMPLE), rel=0.02)
    assert meter.info.boundary == "pmic-rails"
    assert meter.info.details["board_model"] == "Raspberry Pi 5 Model B Rev 1.0"
    assert "VDD_CORE" in meter.info.details["rails_summed"]
    assert meter.info.details["rails_without_current"] == ["BATT", "EXT5V"]
    assert r.details["achieved_period_s"] == pytest.approx(meter.period_s, rel=0.5)
    assert calls > 10


def test_power_change_is_followed() -> None:
    low = SAMPLE
    high = SAMPLE.replace("current(7)=2.00000000A", "current(7)=6.00000000A")
    state = {"text": low}
    meter = RaspberryPiPmicMeter(run_command=lambda: state["text"], period_s=0.01)
    with meter:
        meter.begin_window()
        threading.Timer(0.25, lambda: state.update(text=high)).start()
        time.sleep(0.5)
        r = meter.end_window()
    expected = (_expected(low) + _expected(high)) / 2
    assert r.mean_power_w == pytest.approx(expected, rel=0.05)


def test_command_failure_mid_window_is_invalid() -> None:
    state = {"fail": False}

    def runner() -> str:
        if state["fail"]:
            raise MeterError("`vcgencmd pmic_read_adc` failed: exit status 255")
        return SAMPLE

    with RaspberryPiPmicMeter(run_command=runner, period_s=0.01) as meter:
        meter.begin_window()
        time.sleep(0.1)
        state["fail"] = True
        time.sleep(0.1)
        r = meter.end_window()
    assert not r.valid and "exit status 255" in (r.invalid_reason or "")


def test_board_without_pmic_monitor() -> None:
    with pytest.raises(MeterError, match="no PMIC power monitor"):
        RaspberryPiPmicMeter(run_command=lambda: 'error=1 error_msg="Command not registered"\n')


def test_pi4_is_not_a_pi5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(tmp_path))
    write_device_tree_model(tmp_path, "Raspberry Pi 4 Model B Rev 1.4")
    assert not is_raspberry_pi_5()
    ok, line = rpi_status()
    assert not ok and "no on-board power sensor" in line
