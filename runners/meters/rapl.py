"""CPU energy MEASURED by RAPL through the Linux powercap interface.

Zones live in /sys/class/powercap/intel-rapl:N (one per socket: ``package-N``, or ``psys``
for the platform domain on client parts) and intel-rapl:N:M (sub-domains: ``core``,
``uncore``, ``dram``). AMD processors expose the same interface under the same names.

Each zone has a cumulative ``energy_uj`` counter that wraps at ``max_energy_range_uj``. A
light background thread reads every counter at a period well below the shortest wrap time
and accumulates the deltas, so a long window never misses a wrap. A counter that goes
backwards without a plausible wrap, or a counter file that vanishes or errors, makes the
window invalid instead of wrong.

Linux restricts ``energy_uj`` to root (CVE-2020-8694): an unreadable counter raises
``RaplPermissionError`` with a one-line explanation of how to grant access.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from ecoscore.runners.host import cpu_model, sysfs_path
from ecoscore.runners.meters import base
from ecoscore.runners.meters.base import (
    Measurement,
    Meter,
    MeterConfig,
    MeterError,
    MeterInfo,
    SensorPermissionError,
    WindowReading,
)

POWERCAP_DIR = "/sys/class/powercap"
_ZONE_RE = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")

#: RAPL counters update about every millisecond (Intel SDM: ~976 us).
NOMINAL_UPDATE_PERIOD_S = 0.001
#: No single RAPL domain draws more than this; bounds the wrap-safe polling interval and
#: tells a real wrap from a counter that went backwards.
MAX_PLAUSIBLE_POWER_W = 1000.0
#: Stated relative uncertainty (1 sigma) of a RAPL window (model-based on older parts,
#: measured on recent ones; published validations report a few percent).
UNCERTAINTY_REL = 0.05

GRANT_ACCESS_HINT = (
    "grant read access with the udev rule "
    'SUBSYSTEM=="powercap", ACTION=="add", '
    'RUN+="/bin/chmod o+r %S%p/energy_uj" '
    "(or `sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj` until reboot), "
    "or run as root"
)

#: Domain selections: which zone names are summed, and the boundary that results.
DOMAIN_SETS = ("auto", "package", "package+dram", "psys")


class RaplPermissionError(SensorPermissionError):
    """energy_uj exists but this user may not read it."""


@dataclass(frozen=True)
class RaplZone:
    zone: str  # intel-rapl:0, intel-rapl:0:0
    name: str  # package-0, dram, psys, core, uncore
    path: Path  # the zone directory (already mapped through sysfs_path)
    max_energy_range_uj: int

    @property
    def energy_path(self) -> Path:
        return self.path / "energy_uj"

    @property
    def kind(self) -> str:
        """package | dram | psys | core | uncore | other"""
        for kind in ("package", "dram", "psys", "core", "uncore"):
            if self.name.startswith(kind):
                return kind
        return "other"


def discover_zones() -> list[RaplZone]:
    """All intel-rapl zones with their names and wrap ranges (readable without root)."""
    base = sysfs_path(POWERCAP_DIR)
    if not base.is_dir():
        raise MeterError(f"no readable energy sensor: {POWERCAP_DIR} does not exist")
    zones: list[RaplZone] = []
    for d in sorted(base.iterdir()):
        if not _ZONE_RE.match(d.name):
            continue
        try:
            name = (d / "name").read_text().strip()
            max_range = int((d / "max_energy_range_uj").read_text().strip())
        except (OSError, ValueError) as e:
            raise MeterError(f"cannot read RAPL zone {d}: {e}") from e
        zones.append(RaplZone(d.name, name, d, max_range))
    if not zones:
        raise MeterError(f"no readable energy sensor: {POWERCAP_DIR} has no intel-rapl domains")
    return zones


def select_zones(zones: list[RaplZone], domains: str) -> tuple[list[RaplZone], str]:
    """The zones to sum for a domain selection, and the resulting boundary."""
    if domains not in DOMAIN_SETS:
        raise MeterError(f"unknown RAPL domain set {domains!r}; choose one of {DOMAIN_SETS}")
    packages = [z for z in zones if z.kind == "package"]
    drams = [z for z in zones if z.kind == "dram"]
    psys = [z for z in zones if z.kind == "psys"]
    if domains == "psys":
        if not psys:
            raise MeterError("RAPL has no psys (platform) domain on this machine")
        return psys, "psys"
    if not packages:
        raise MeterError("RAPL has no package domain on this machine")
    if domains == "package+dram" and not drams:
        raise MeterError("RAPL has no dram domain on this machine")
    if domains in ("package+dram", "auto") and drams:
        return packages + drams, "cpu+dram"
    return packages, "cpu-package"


def read_energy_uj(zone: RaplZone) -> int:
    """One read of a zone's counter; a permission problem says how to fix it, in one line."""
    path = zone.energy_path
    try:
        return int(path.read_text().strip())
    except PermissionError as e:
        raise RaplPermissionError(
            f"cannot read {path}: permission denied (Linux restricts RAPL energy_uj to root); "
            + GRANT_ACCESS_HINT
        ) from e
    except (OSError, ValueError) as e:
        raise MeterError(f"cannot read {path}: {e}") from e


def measure_update_period(zone: RaplZone, budget_s: float = 0.2, changes: int = 5) -> float | None:
    """Median interval between changes of a zone's counter, polled for at most budget_s."""
    deadline = base.clock() + budget_s
    last = read_energy_uj(zone)
    stamps: list[float] = []
    while base.clock() < deadline and len(stamps) <= changes:
        v = read_energy_uj(zone)
        if v != last:
            stamps.append(base.clock())
            last = v
        else:
            time.sleep(0.0001)
    if len(stamps) < 3:
        return None
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    return gaps[len(gaps) // 2]


class _Accumulator:
    """Reads the counters and accumulates wrap-corrected deltas, thread-safe."""

    def __init__(self, zones: list[RaplZone], max_power_w: float) -> None:
        self.zones = zones
        self.max_power_w = max_power_w
        self.lock = threading.RLock()  # also held across a window edge (RaplMeter._edge_lock)
        self.last = [read_energy_uj(z) for z in zones]
        self.last_t = base.clock()
        self.total_uj = [0 for _ in zones]
        self.error: str | None = None
        self.max_gap_s = 0.0
        self.wraps = 0
        self.changes = 0  # reads that saw a counter change: the sensor updates observed
        # the longest interval between reads during which no counter can wrap twice
        self.wrap_safe_s = min(z.max_energy_range_uj * 1e-6 / max_power_w for z in zones)

    def poll(self) -> None:
        """Read every counter once (called by the sampler thread and at window edges)."""
        with self.lock:
            try:
                values = [read_energy_uj(z) for z in self.zones]
            except MeterError as e:
                self.error = str(e)
                return
            t = base.clock()  # after the reads: a window edge reads the clock first
            if values != self.last:
                self.changes += 1
            dt = t - self.last_t
            self.max_gap_s = max(self.max_gap_s, dt)
            if dt > self.wrap_safe_s:
                self.error = (
                    f"RAPL counters were not read for {dt:.3f} s, longer than the wrap-safe "
                    f"interval {self.wrap_safe_s:.3f} s: a wrap may have been missed"
                )
            for i, (z, v) in enumerate(zip(self.zones, values, strict=True)):
                delta = v - self.last[i]
                if delta < 0:
                    delta += z.max_energy_range_uj + 1
                    if delta * 1e-6 > self.max_power_w * max(dt, 1e-3):
                        self.error = (
                            f"RAPL counter {z.energy_path} went backwards "
                            f"({self.last[i]} -> {v} uJ) without a plausible wrap"
                        )
                        delta = 0
                    else:
                        self.wraps += 1
                self.total_uj[i] += delta
                self.last[i] = v
            self.last_t = t

    def snapshot(self) -> tuple[list[int], int, int]:
        with self.lock:
            return list(self.total_uj), self.wraps, self.changes

    def reset_window_state(self) -> None:
        with self.lock:
            self.error = None
            self.max_gap_s = 0.0


class RaplConfig(MeterConfig):
    """Linux powercap RAPL counters (cpu-package, cpu+dram or psys), MEASURED"""

    covers: ClassVar[str] = "the CPU package"
    boundaries: ClassVar[tuple[str, ...] | None] = ("cpu-package", "cpu+dram", "psys")

    meter: Literal["rapl"] = "rapl"
    domains: Literal["auto", "package", "package+dram", "psys"] = "auto"

    @classmethod
    def from_spec(cls, arg: str | None, device: str, boundary: str | None) -> RaplConfig:
        domains = arg or "auto"
        if domains not in DOMAIN_SETS:
            raise MeterError(
                f"unknown RAPL domain set {domains!r}: use rapl[:{'|'.join(DOMAIN_SETS)}]"
            )
        return cls(domains=domains)  # type: ignore[arg-type]

    @classmethod
    def detect(cls, device: str) -> RaplConfig | None:
        return None if device.startswith("cuda") else cls()

    @classmethod
    def status(cls) -> tuple[bool, str]:
        return rapl_status()

    def build(self) -> RaplMeter:
        return RaplMeter(domains=self.domains)


class RaplMeter(Meter):
    """CPU energy MEASURED from powercap RAPL counters, summed over the selected domains."""

    def __init__(
        self,
        domains: str = "auto",
        poll_period_s: float | None = None,
        measure_period: bool = True,
        max_power_w: float = MAX_PLAUSIBLE_POWER_W,
    ) -> None:
        super().__init__()
        self.domains = domains
        all_zones = discover_zones()
        self.zones, boundary = select_zones(all_zones, domains)
        self._acc = _Accumulator(self.zones, max_power_w)  # first read: fails here when unreadable
        measured = measure_update_period(self.zones[0]) if measure_period else None
        self.update_period_s = measured if measured is not None else NOMINAL_UPDATE_PERIOD_S
        safe = self._acc.wrap_safe_s
        # fast enough to observe the counter's updates (OBSERVE_POLL_S at most) and never
        # to miss a wrap
        observe = max(self.update_period_s, base.OBSERVE_POLL_S)
        self.poll_period_s = poll_period_s or max(min(safe / 4, observe), 0.001)
        summed = ", ".join(f"{z.name} ({z.zone})" for z in self.zones)
        self.info = MeterInfo(
            name="rapl",
            source=f"linux powercap RAPL: {summed}",
            boundary=boundary,
            measurement=Measurement.MEASURED,
            sampling_period_s=self.update_period_s,
            uncertainty_rel=UNCERTAINTY_REL,
            details={
                "domains_summed": [z.name for z in self.zones],
                "zones_summed": [z.zone for z in self.zones],
                "zones_present": {z.zone: z.name for z in all_zones},
                "domain_selection": domains,
                "max_energy_range_uj": {z.zone: z.max_energy_range_uj for z in self.zones},
                "update_period_s": self.update_period_s,
                "update_period_source": "measured at start (median interval between counter "
                "changes)"
                if measured is not None
                else f"assumed nominal {NOMINAL_UPDATE_PERIOD_S} s",
                "poll_period_s": self.poll_period_s,
                "wrap_safe_interval_s": safe,
                "max_plausible_power_w": max_power_w,
                "cpu_model": cpu_model(),
            },
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._begin_totals: list[int] = []
        self._begin_wraps = 0
        self._begin_changes = 0

    def _edge_lock(self) -> threading.RLock:
        return self._acc.lock

    def observation_period_s(self) -> float:
        """The counter is seen to change at most once per poll."""
        return max(self.update_period_s, self.poll_period_s)

    @property
    def config(self) -> RaplConfig:
        return RaplConfig(domains=self.domains)  # type: ignore[arg-type]

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="rapl-accumulator", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_period_s):
            self._acc.poll()

    def _begin(self) -> None:
        if self._thread is None:
            self.start()
        self._acc.poll()
        self._acc.reset_window_state()
        self._begin_totals, self._begin_wraps, self._begin_changes = self._acc.snapshot()

    def _end(self, duration_s: float) -> WindowReading:
        self._acc.poll()
        totals, wraps, changes = self._acc.snapshot()
        error = self._acc.error
        per_domain_j = {
            z.zone: (t1 - t0) * 1e-6
            for z, t0, t1 in zip(self.zones, self._begin_totals, totals, strict=True)
        }
        energy = sum(per_domain_j.values())
        updates = changes - self._begin_changes
        details: dict[str, object] = {
            "sensor_updates_observed_as": f"counter changes seen by reads every "
            f"{self.poll_period_s:g} s",
            "energy_j_by_zone": per_domain_j,
            "wraps_in_window": wraps - self._begin_wraps,
            "max_read_gap_s": self._acc.max_gap_s,
        }
        if error is not None:
            return WindowReading(energy, duration_s, updates, False, error, details)
        return WindowReading(energy, duration_s, updates, details=details)


def rapl_status() -> tuple[bool, str]:
    """(readable, one-line description) for `ecoscore meters`."""
    try:
        zones = discover_zones()
    except MeterError as e:
        return False, str(e)
    names = ", ".join(f"{z.name} ({z.zone})" for z in zones)
    try:
        read_energy_uj(zones[0])
    except MeterError as e:
        return False, f"RAPL domains {names} present but not readable: {e}"
    return True, f"RAPL domains {names}"
