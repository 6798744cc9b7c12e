"""CSV power-log meter: alignment by epoch time, coverage, live logs, malformed logs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ecoscore.runners.meters.base import MeterError
from ecoscore.runners.meters.csv_log import CsvPowerLogMeter, energy_between, read_power_log


def _write_log(path: Path, t0: float, t1: float, power, period: float = 0.01) -> None:
    ts = np.arange(t0, t1, period)
    lines = ["timestamp,power_w"] + [f"{t:.6f},{power(t):.6f}" for t in ts]
    path.write_text("\n".join(lines) + "\n")


def test_log_covering_the_window_gives_the_energy(tmp_path: Path) -> None:
    log = tmp_path / "power.csv"
    now = time.time()
    _write_log(log, now - 5, now + 10, lambda t: 12.0)
    meter = CsvPowerLogMeter(log)
    assert meter.info.boundary == "wall"
    assert meter.info.sampling_period_s == pytest.approx(0.01, rel=0.01)
    meter.begin_window()
    time.sleep(0.4)
    r = meter.end_window()
    assert r.valid, r.invalid_reason
    assert r.energy_j == pytest.approx(12.0 * r.duration_s, rel=0.01)
    assert r.details["window_epoch_start"] == pytest.approx(time.time() - r.duration_s, abs=0.05)
    assert r.sensor_updates == pytest.approx(40, abs=3)


def test_time_varying_power_is_integrated_over_the_right_span(tmp_path: Path) -> None:
    """Power ramps with epoch time: the energy tells whether the window sits where it should."""
    log = tmp_path / "ramp.csv"
    now = time.time()
    _write_log(log, now - 5, now + 10, lambda t: 100.0 + 20.0 * (t - now), period=0.005)
    meter = CsvPowerLogMeter(log)
    meter.begin_window()
    time.sleep(0.5)
    r = meter.end_window()
    t0, t1 = r.details["window_epoch_start"], r.details["window_epoch_end"]
    expected = 100.0 * (t1 - t0) + 10.0 * ((t1 - now) ** 2 - (t0 - now) ** 2)
    assert r.energy_j == pytest.approx(expected, rel=1e-3)


def test_voltage_current_and_boundary_columns(tmp_path: Path) -> None:
    log = tmp_path / "vi.csv"
    now = time.time()
    rows = [f"{t:.4f},5.0,2.0,device-input" for t in np.arange(now - 2, now + 5, 0.02)]
    log.write_text("timestamp,voltage_v,current_a,boundary\n" + "\n".join(rows) + "\n")
    meter = CsvPowerLogMeter(log)
    assert meter.info.boundary == "device-input"
    meter.begin_window()
    time.sleep(0.3)
    r = meter.end_window()
    assert r.mean_power_w == pytest.approx(10.0, rel=0.01)
    assert CsvPowerLogMeter(log, boundary="usb-c input").info.boundary == "usb-c input"


def test_window_not_covered_is_invalid_not_zero(tmp_path: Path) -> None:
    log = tmp_path / "old.csv"
    now = time.time()
    _write_log(log, now - 100, now - 50, lambda t: 10.0)
    meter = CsvPowerLogMeter(log, wait_s=0.1)
    meter.begin_window()
    time.sleep(0.1)
    r = meter.end_window()
    assert not r.valid
    assert "covers" in (r.invalid_reason or "")


def test_log_written_while_the_run_goes_on(tmp_path: Path) -> None:
    log = tmp_path / "live.csv"
    stop = threading.Event()

    def logger() -> None:
        with log.open("w") as f:
            f.write("timestamp,power_w\n")
            while not stop.is_set():
                f.write(f"{time.time():.6f},7.5\n")
                f.flush()
                time.sleep(0.01)

    th = threading.Thread(target=logger, daemon=True)
    th.start()
    try:
        time.sleep(0.1)
        meter = CsvPowerLogMeter(log)
        meter.begin_window()
        time.sleep(0.4)
        r = meter.end_window()
    finally:
        stop.set()
        th.join()
    assert r.valid, r.invalid_reason
    assert r.mean_power_w == pytest.approx(7.5, rel=0.01)


def test_missing_log_makes_the_window_invalid(tmp_path: Path) -> None:
    meter = CsvPowerLogMeter(tmp_path / "absent.csv", wait_s=0.1)
    assert meter.info.details["log_existed_at_start"] is False
    meter.begin_window()
    r = meter.end_window()
    assert not r.valid and "absent.csv" in (r.invalid_reason or "")


def test_clock_offset_shifts_the_log(tmp_path: Path) -> None:
    log = tmp_path / "skewed.csv"
    now = time.time()
    # the logger's clock runs 100 s behind this machine's
    _write_log(log, now - 102, now - 90, lambda t: 3.0)
    assert not _window_valid(CsvPowerLogMeter(log, wait_s=0.1))
    assert _window_valid(CsvPowerLogMeter(log, clock_offset_s=100.0, wait_s=0.1))


def _window_valid(meter: CsvPowerLogMeter) -> bool:
    meter.begin_window()
    time.sleep(0.05)
    return meter.end_window().valid


def test_gap_in_the_log_is_invalid(tmp_path: Path) -> None:
    log = tmp_path / "gap.csv"
    now = time.time()
    ts = [t for t in np.arange(now - 5, now + 5, 0.01) if not (now - 1 < t < now + 0.5)]
    log.write_text("timestamp,power_w\n" + "".join(f"{t:.5f},4\n" for t in ts))
    parsed = read_power_log(log)
    r = energy_between(parsed, now - 2, now + 2)
    assert not r.valid and "missing" in (r.invalid_reason or "")


def test_malformed_logs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,watts\n1,2\n")
    with pytest.raises(MeterError, match="no 'timestamp' column"):
        read_power_log(bad)
    bad.write_text("timestamp,power_w\n1,2\nx,3\n4,5\n")
    with pytest.raises(MeterError, match="line 3"):
        read_power_log(bad)
    bad.write_text("timestamp,power_w\n1,2\n2,3\n3,")  # last line being written: skipped
    assert read_power_log(bad).t.tolist() == [1.0, 2.0]
