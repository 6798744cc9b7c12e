"""RAPL meter against fake powercap trees whose counters advance with the meters' clock."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from ecoscore.runners.meters.base import Measurement, MeterError
from ecoscore.runners.meters.rapl import RaplMeter, RaplPermissionError, rapl_status
from tests.fake_sysfs import ClockedCounters, RaplZone, make_powercap

BIG = 262_143_328_850


@pytest.fixture
def sysroot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(tmp_path))
    return tmp_path


def _window(meter: RaplMeter, seconds: float):
    meter.begin_window()
    time.sleep(seconds)
    return meter.end_window()


def test_package_counter_at_10w(sysroot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = make_powercap(sysroot, [RaplZone("intel-rapl:0", "package-0", BIG)])
    ClockedCounters().add(paths["intel-rapl:0"], 10.0, BIG).install(monkeypatch)
    with RaplMeter(measure_period=False) as meter:
        r = _window(meter, 0.3)
    assert meter.info.boundary == "cpu-package"
    assert meter.info.measurement is Measurement.MEASURED
    assert meter.info.details["domains_summed"] == ["package-0"]
    assert r.valid, r.invalid_reason
    assert r.mean_power_w == pytest.approx(10.0, rel=1e-4)


def test_the_update_period_is_measured(sysroot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A counter that changes every 2 ms of (fake) clock time, polled by a clock that
    advances 0.25 ms per read: the measured period is 2 ms, however loaded the machine."""
    paths = make_powercap(sysroot, [RaplZone("intel-rapl:0", "package-0", BIG)])
    clock = ClockedCounters(step_s=0.00025, update_period_s=0.002)
    clock.add(paths["intel-rapl:0"], 10.0, BIG).install(monkeypatch)
    meter = RaplMeter()
    assert meter.info.sampling_period_s == pytest.approx(0.002, abs=0.00026)
    assert meter.info.details["update_period_source"].startswith("measured")


def test_the_sensor_updates_of_a_window_are_observed_changes(
    sysroot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counter changes every 2 ms of fake clock time and each read advances the clock
    0.25 ms: 800 reads see it change 100 times. A counter that never moves is seen to update
    0 times, and its window is flagged (a full run then refuses it)."""
    paths = make_powercap(sysroot, [RaplZone("intel-rapl:0", "package-0", BIG)])
    clock = ClockedCounters(step_s=0.00025, update_period_s=0.002)
    clock.add(paths["intel-rapl:0"], 10.0, BIG).install(monkeypatch)
    meter = RaplMeter(poll_period_s=3600.0, measure_period=False)  # the test reads, not a thread
    with meter:
        meter.begin_window()
        for _ in range(800):
            meter._acc.poll()
        r = meter.end_window()
    assert r.sensor_updates == pytest.approx(100, abs=1)
    assert "counter changes seen by reads" in r.details["sensor_updates_observed_as"]
    assert not r.details.get("too_few_sensor_updates")

    frozen = make_powercap(sysroot / "frozen", [RaplZone("intel-rapl:0", "package-0", BIG)])
    monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(sysroot / "frozen"))
    ClockedCounters(step_s=0.00025).add(frozen["intel-rapl:0"], 0.0, BIG).install(monkeypatch)
    with RaplMeter(poll_period_s=3600.0, measure_period=False) as meter:
        meter.begin_window()
        for _ in range(800):
            meter._acc.poll()
        r = meter.end_window()
    assert r.sensor_updates == 0 and r.details["too_few_sensor_updates"] is True


def test_counter_wraps_during_window(sysroot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The counter wraps at least twice in a window and the meter counts every wrap. The
    clock is fake (5 ms per read, whoever reads it); the test ticks it, then waits until
    the meter's polling thread has read the counter, so that however busy the machine is,
    the thread sees the counter every 10 ms of clock time (a third of the wrap-safe 30 ms)."""
    max_range = 3_000_000  # 3 J: at 10 W the counter wraps every 0.3 s of clock time
    paths = make_powercap(sysroot, [RaplZone("intel-rapl:0", "package-0", max_range)])
    clock = ClockedCounters(step_s=0.005)
    clock.add(paths["intel-rapl:0"], 10.0, max_range, start_uj=2_500_000).install(monkeypatch)
    with RaplMeter(max_power_w=100.0, measure_period=False) as meter:
        before = clock.wraps
        meter.begin_window()
        for _ in range(70):
            t = clock()
            while meter._acc.last_t < t:  # the polling thread has not read since the tick
                time.sleep(0.0005)
        r = meter.end_window()
        wrapped = clock.wraps - before
    assert wrapped >= 2
    assert r.valid, r.invalid_reason
    assert r.details["wraps_in_window"] >= 2
    # a missed wrap would lose 3 J of the window's 7 J: the power is exact only if none is
    assert r.mean_power_w == pytest.approx(10.0, rel=1e-4)


def test_two_sockets_with_dram(sysroot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
    clock = ClockedCounters()
    for z, w in powers.items():
        clock.add(paths[z], w, BIG)
    clock.install(monkeypatch)
    with RaplMeter(measure_period=False) as meter:
        r = _window(meter, 0.2)
    with RaplMeter(domains="package", measure_period=False) as packages_only:
        rp = _window(packages_only, 0.2)
    assert meter.info.boundary == "cpu+dram"
    assert sorted(meter.info.details["domains_summed"]) == [
        "dram",
        "dram",
        "package-0",
        "package-1",
    ]
    assert r.valid and rp.valid
    assert r.mean_power_w == pytest.approx(21.0, rel=1e-4)  # core is inside package: not summed
    assert packages_only.info.boundary == "cpu-package"
    assert rp.mean_power_w == pytest.approx(18.0, rel=1e-4)


def test_psys_selection(sysroot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = make_powercap(
        sysroot,
        [RaplZone("intel-rapl:0", "package-0", BIG), RaplZone("intel-rapl:1", "psys", BIG)],
    )
    clock = ClockedCounters().add(paths["intel-rapl:1"], 15.0, BIG)
    clock.add(paths["intel-rapl:0"], 10.0, BIG).install(monkeypatch)
    with RaplMeter(domains="psys", measure_period=False) as meter:
        r = _window(meter, 0.2)
    assert meter.info.boundary == "psys"
    assert r.mean_power_w == pytest.approx(15.0, rel=1e-4)


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


def test_counter_removed_mid_window_is_invalid(
    sysroot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = make_powercap(sysroot, [RaplZone("intel-rapl:0", "package-0", BIG)])
    ClockedCounters().add(paths["intel-rapl:0"], 10.0, BIG).install(monkeypatch)
    with RaplMeter(measure_period=False) as meter:
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
