"""Fake /sys and /proc trees for meter tests, with counters that advance in real time.

Point the meters at a tree with ``monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(root))``;
every path the meters read goes through ``ecoscore.runners.host.sysfs_path``.

- ``make_powercap(root, zones)`` builds /sys/class/powercap/intel-rapl:N[:M] zones;
- ``ClockedCounters`` is the meters' clock and writes every fake ``energy_uj`` counter for
  the instant it returns, at a fixed power, wrapping at ``max_energy_range_uj`` like the
  kernel counter: time and energy come from the same reads, so a window's mean power is
  exact however busy the test machine is (install it with ``ClockedCounters.install``);
- ``EnergyCounterWriter`` writes ``energy_uj`` at a fixed power from a background thread
  (for tests of the meter's own sampling thread; its figures depend on scheduling);
- ``make_jetson_hwmon`` / ``make_jetson_iio`` build the INA3221 layouts of Jetson boards;
- ``write_device_tree_model`` writes /proc/device-tree/model (NUL-terminated, as real).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

POWERCAP = "sys/class/powercap"


def write_atomic(path: Path, text: str) -> None:
    """Replace a file's content in one step, so that a reader never sees a half-written value."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass(frozen=True)
class RaplZone:
    zone: str  # directory name, e.g. "intel-rapl:0" or "intel-rapl:0:0"
    name: str  # content of the zone's `name` file, e.g. "package-0", "dram", "psys"
    max_energy_range_uj: int = 262_143_328_850
    energy_uj: int = 0


def make_powercap(root: Path, zones: list[RaplZone]) -> dict[str, Path]:
    """Create the zones under root/sys/class/powercap; return zone -> energy_uj path."""
    base = root / POWERCAP
    base.mkdir(parents=True, exist_ok=True)
    (base / "intel-rapl").mkdir(exist_ok=True)  # the control-type directory, not a zone
    paths: dict[str, Path] = {}
    for z in zones:
        d = base / z.zone
        d.mkdir(parents=True, exist_ok=True)
        (d / "name").write_text(z.name + "\n")
        (d / "max_energy_range_uj").write_text(f"{z.max_energy_range_uj}\n")
        (d / "energy_uj").write_text(f"{z.energy_uj}\n")
        paths[z.zone] = d / "energy_uj"
    return paths


@dataclass
class _Counter:
    path: Path
    power_w: float
    max_range: int
    start_uj: int
    value: int
    wraps: int = 0


class ClockedCounters:
    """The meters' clock, driving fake RAPL counters.

    Each read of the clock writes every counter's value for the instant it returns:
    ``start + power x (t - t0)``, quantised to ``update_period_s`` of clock time when given
    (RAPL updates about every millisecond), wrapping like RAPL. With ``step_s`` the clock is
    fake too and advances exactly ``step_s`` per read; otherwise it is perf_counter.

    The RAPL meter reads the clock and the counters of a window edge under one lock, which
    its polling thread takes too: no other read can move a counter between the two.
    """

    def __init__(self, step_s: float | None = None, update_period_s: float | None = None):
        self.step_s = step_s
        self.update_period_s = update_period_s
        self.counters: list[_Counter] = []
        self._t0 = time.perf_counter()
        self._t = self._t0

    def add(self, path: Path, power_w: float, max_range: int, start_uj: int = 0) -> ClockedCounters:
        self.counters.append(_Counter(path, power_w, max_range, start_uj, start_uj))
        write_atomic(path, f"{start_uj}\n")
        return self

    @property
    def wraps(self) -> int:
        return sum(c.wraps for c in self.counters)

    def install(self, monkeypatch: object) -> ClockedCounters:
        from ecoscore.runners.meters import base

        monkeypatch.setattr(base, "clock", self)  # type: ignore[attr-defined]
        return self

    def __call__(self) -> float:
        if self.step_s is None:
            self._t = time.perf_counter()
        else:
            self._t += self.step_s
        elapsed = self._t - self._t0
        if self.update_period_s:
            elapsed = int(elapsed / self.update_period_s) * self.update_period_s
        for c in self.counters:
            new = (c.start_uj + int(round(c.power_w * elapsed * 1e6))) % (c.max_range + 1)
            if new < c.value:
                c.wraps += 1
            if new != c.value:
                c.value = new
                with contextlib.suppress(FileNotFoundError):  # the test removed the zone
                    write_atomic(c.path, f"{new}\n")
        return self._t


class EnergyCounterWriter:
    """Advance an ``energy_uj`` file at ``power_w`` every ``period_s``, wrapping like RAPL.

    The written value is computed from the elapsed time (not accumulated per tick), so the
    counter stays exact even when the thread is scheduled late.
    """

    def __init__(
        self,
        path: Path,
        power_w: float,
        max_energy_range_uj: int,
        period_s: float = 0.002,
        start_uj: int = 0,
    ) -> None:
        self.path = path
        self.power_w = power_w
        self.max_range = max_energy_range_uj
        self.period_s = period_s
        self.start_uj = start_uj
        self.wraps = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._t0 = 0.0

    def value_uj(self, t: float) -> int:
        total = self.start_uj + int(self.power_w * (t - self._t0) * 1e6)
        return total % (self.max_range + 1)

    def _loop(self) -> None:
        last = self.start_uj
        while not self._stop.is_set():
            v = self.value_uj(time.perf_counter())
            if v < last:
                self.wraps += 1
            last = v
            try:
                write_atomic(self.path, f"{v}\n")
            except FileNotFoundError:  # the test removed the zone: keep quiet, stop writing
                return
            self._stop.wait(self.period_s)

    def start(self) -> EnergyCounterWriter:
        self._t0 = time.perf_counter()
        write_atomic(self.path, f"{self.start_uj}\n")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def __enter__(self) -> EnergyCounterWriter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_device_tree_model(root: Path, model: str) -> None:
    d = root / "proc/device-tree"
    d.mkdir(parents=True, exist_ok=True)
    (d / "model").write_bytes(model.encode() + b"\x00")


def make_jetson_hwmon(
    root: Path,
    rails: dict[str, tuple[float, float]],
    i2c_addr: str = "1-0040",
    hwmon: str = "hwmon3",
) -> Path:
    """INA3221 through hwmon: inN_label, inN_input (mV), currN_input (mA), N = 1..3.

    ``rails`` maps a rail label to (millivolts, milliamps). Returns the hwmon directory.
    """
    d = root / f"sys/bus/i2c/drivers/ina3221/{i2c_addr}/hwmon/{hwmon}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "name").write_text("ina3221\n")
    (d / "update_interval").write_text("5\n")
    for n, (label, (mv, ma)) in enumerate(rails.items(), start=1):
        (d / f"in{n}_label").write_text(label + "\n")
        (d / f"in{n}_input").write_text(f"{int(round(mv))}\n")
        (d / f"curr{n}_input").write_text(f"{int(round(ma))}\n")
    # the driver also exposes shunt-voltage channels and a sum channel without a bus voltage
    (d / "in7_label").write_text("sum of shunt voltages\n")
    (d / "in7_input").write_text("3\n")
    return d


def make_jetson_iio(
    root: Path,
    rails: dict[str, tuple[float, float]],
    i2c_addr: str = "0-0040",
) -> Path:
    """Older INA3221x layout: rail_name_N, in_voltageN_input (mV), in_currentN_input (mA),
    in_powerN_input (mW), N = 0..2. Returns the iio device directory."""
    d = root / f"sys/bus/i2c/drivers/ina3221x/{i2c_addr}/iio:device0"
    d.mkdir(parents=True, exist_ok=True)
    for n, (label, (mv, ma)) in enumerate(rails.items()):
        (d / f"rail_name_{n}").write_text(label + "\n")
        (d / f"in_voltage{n}_input").write_text(f"{int(round(mv))}\n")
        (d / f"in_current{n}_input").write_text(f"{int(round(ma))}\n")
        (d / f"in_power{n}_input").write_text(f"{int(round(mv * ma / 1000))}\n")
    return d
