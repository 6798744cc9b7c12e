"""RAPL meter against fake powercap trees whose counters advance in real time."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from ecoscore.runners.meters.base import Measurement, MeterError
from ecoscore.runners.meters.rapl import RaplMeter, RaplPermissionError, rapl_status
from tests.fake_sysfs import EnergyCounterWriter, RaplZone, make_powercap

BIG = 262_143_328_850


@pytest.fixture
def sysroot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(tmp_path))
    return tmp_path


def _window(meter: RaplMeter, seconds: float):
    meter.begin_window()
    time.sleep(seconds)
    return meter.end_window()


def test_package_counter_at_10w(sysroot: Path) -> None:
    paths = make_powercap(sysroot, [RaplZone("intel-rapl:0", "package-0", BIG)])
    with (
        EnergyCounterWriter(paths["intel-rapl:0"], 10.0, BIG, period_s=0.002),
        RaplMeter() as meter,
    ):
        r = _window(meter, 1.0)
    assert meter.info.boundary == "cpu-package"
    assert meter.info.measurement is Measurement.MEASURED
    assert meter.info.details["domains_summed"] == ["package-0"]
    assert r.valid, r.invalid_reason
    assert r.mean_power_w == pytest.approx(10.0, rel=0.02)
    # the measured update period is the fake writer's (~2 ms), far above the 1 ms nominal
    assert 0.0015 < meter.info.sampling_period_s < 0.01
    assert r.sensor_updates == int(r.duration_s / meter.info.sampling_period_s)


def test_counter_wraps_during_window(sysroot: Path) -> None:
    max_range = 3_000_000  # 3 J: at 10 W the counter wraps every 0.3 s
    paths = make_powercap(sysroot, [RaplZone("intel-rapl:0", "package-0", max_range)])
    writer = EnergyCounterWriter(paths["intel-rapl:0"], 10.0, max_range, start_uj=2_500_000)
    with writer, RaplMeter(max_power_w=100.0) as meter:
        r = _window(meter, 1.0)
    assert writer.wraps >= 2
    assert r.valid, r.invalid_reason
    assert r.details["wraps_in_window"] >= 2
    assert r.mean_power_w == pytest.approx(10.0, rel=0.02)


def test_two_sockets_with_dram(sysroot: Path) -> None:
    zones = [
        RaplZone("intel-rapl:0", "package-0", BIG),
        RaplZone("intel-rapl:0:0", "dram", BIG),
        RaplZone("intel-rapl:0:1", "core", BIG),
        RaplZone("intel-rapl:1", "package-1", BIG),
        RaplZone("intel-rapl:1:0", "dram", BIG),
    ]
    paths = make_powercap(sysroot, zones)
    powers = {"intel-rapl:0": 10.0, "intel-rapl:0:0": 2.0, "intel-rapl:0:1": 6.0}
    powers |= {"intel-rapl:1": 8.0, "intel-rapl:1:0": 1.0}
    writers = [EnergyCounterWriter(paths[z], w, BIG).start() for z, w in powers.items()]
    try:
        # five writer threads on a small machine: longer windows keep their lag under 1 %
        with RaplMeter() as meter:
            r = _window(meter, 1.0)
        with RaplMeter(domains="package") as packages_only:
            rp = _window(packages_only, 1.0)
    finally:
        for w in writers:
            w.stop()
    assert meter.info.boundary == "cpu+dram"
    assert sorted(meter.info.details["domains_summed"]) == [
        "dram",
        "dram",
        "package-0",
        "package-1",
    ]
    assert r.valid and rp.valid
    assert r.mean_power_w == pytest.approx(21.0, rel=0.02)  # core is inside package: not summed
    assert packages_only.info.boundary == "cpu-package"
    assert rp.mean_power_w == pytest.approx(18.0, rel=0.02)


def test_psys_selection(sysroot: Path) -> None:
    paths = make_powercap(
        sysroot,
        [RaplZone("intel-rapl:0", "package-0", BIG), RaplZone("intel-rapl:1", "psys", BIG)],
    )
    with (
        EnergyCounterWriter(paths["intel-rapl:1"], 15.0, BIG),
        EnergyCounterWriter(paths["intel-rapl:0"], 10.0, BIG),
        RaplMeter(domains="psys") as meter,
    ):
        r = _window(meter, 1.0)
    assert meter.info.boundary == "psys"
    assert r.mean_power_w == pytest.approx(15.0, rel=0.02)


@pytest.fixture
def enforce_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make an unreadable mode deny reads even when the tests run as root (as in containers)."""
    real_read_text = Path.read_text

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        if os.geteuid() == 0 and not os.stat(self).st_mode & (stat.S_IRUSR | stat.S_IROTH):
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)


@pytest.mark.usefixtures("enforce_modes")
def test_unreadable_counter_explains_how_to_grant_access(sysroot: Path) -> None:
    paths = make_powercap(sysroot, [RaplZone("intel-rapl:0", "package-0", BIG)])
    paths["intel-rapl:0"].chmod(0o200)  # like the kernel's 0400 root-only mode, for a non-root user
    with pytest.raises(RaplPermissionError) as e:
        RaplMeter()
    msg = str(e.value)
    assert "\n" not in msg
    assert "permission denied" in msg and "chmod o+r" in msg and 'SUBSYSTEM=="powercap"' in msg
    ok, why = rapl_status()
    assert not ok and "not readable" in why


def test_no_powercap_tree(sysroot: Path) -> None:
    with pytest.raises(MeterError, match="does not exist"):
        RaplMeter()
    (sysroot / "sys/class/powercap/intel-rapl").mkdir(parents=True)
    with pytest.raises(MeterError, match="no intel-rapl domains"):
        RaplMeter()


def test_counter_removed_mid_window_is_invalid(sysroot: Path) -> None:
    paths = make_powercap(sysroot, [RaplZone("intel-rapl:0", "package-0", BIG)])
    with EnergyCounterWriter(paths["intel-rapl:0"], 10.0, BIG), RaplMeter() as meter:
        meter.begin_window()
        time.sleep(0.1)
        paths["intel-rapl:0"].parent.rename(sysroot / "gone")  # the zone vanishes, atomically
        time.sleep(0.1)
        r = meter.end_window()
    assert not r.valid
    assert "energy_uj" in (r.invalid_reason or "")


def test_counter_going_backwards_is_invalid(sysroot: Path) -> None:
    paths = make_powercap(sysroot, [RaplZone("intel-rapl:0", "package-0", BIG)])
    path = paths["intel-rapl:0"]
    path.write_text("5000000000\n")
    with RaplMeter(measure_period=False) as meter:
        meter.begin_window()
        path.write_text("4000000000\n")  # 1 kJ backwards: a reset, not a wrap
        time.sleep(0.05)
        r = meter.end_window()
    assert not r.valid
    assert "went backwards" in (r.invalid_reason or "")
