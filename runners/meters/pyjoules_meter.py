"""CPU energy MEASURED by pyJoules (RAPL), for users who already rely on it (``--meter pyjoules``).

The built-in ``rapl`` meter reads the same counters with explicit wrap handling and
per-window validity; this backend delegates the reading to pyJoules' ``EnergyMeter`` and
sums its package (and dram, when present) domains, reported in microjoules.
"""

from __future__ import annotations

import importlib.util
from typing import Any, ClassVar, Literal

from ecoscore.runners.meters.base import (
    Measurement,
    Meter,
    MeterConfig,
    MeterError,
    MeterInfo,
    WindowReading,
)

UNCERTAINTY_REL = 0.05


def make_pyjoules_energy_meter() -> Any:
    """A pyJoules EnergyMeter over every RAPL domain pyJoules finds (lazy import)."""
    try:
        from pyJoules.device import DeviceFactory
        from pyJoules.energy_meter import EnergyMeter
    except ImportError as e:
        raise MeterError("pyJoules meter needs the pyJoules package: pip install pyJoules") from e
    try:
        devices = DeviceFactory.create_devices()
    except Exception as e:  # pyJoules raises its own exceptions when RAPL is unreadable
        raise MeterError(f"pyJoules cannot open its devices: {e}") from e
    return EnergyMeter(devices)


def _domain_kind(name: str) -> str | None:
    for kind in ("package", "dram"):
        if name.startswith(kind):
            return kind
    return None


class PyJoulesConfig(MeterConfig):
    """pyJoules' RAPL backend (cpu-package, + dram where present), MEASURED"""

    covers: ClassVar[str] = "the CPU package"
    boundaries: ClassVar[tuple[str, ...] | None] = ("cpu-package", "cpu+dram")

    meter: Literal["pyjoules"] = "pyjoules"

    @classmethod
    def status(cls) -> tuple[bool, str]:
        if importlib.util.find_spec("pyJoules") is None:
            return False, "pyJoules RAPL backend: not installed (pip install pyJoules)"
        return True, "pyJoules RAPL backend: pyJoules installed"

    def build(self) -> PyJoulesMeter:
        return PyJoulesMeter()


class PyJoulesMeter(Meter):
    """Windows measured by pyJoules' EnergyMeter (start/stop), RAPL package [+ dram]."""

    def __init__(self, energy_meter: Any = None) -> None:
        super().__init__()
        self._meter = energy_meter if energy_meter is not None else make_pyjoules_energy_meter()
        domains = self._probe_domains()
        boundary = "cpu+dram" if any(_domain_kind(n) == "dram" for n in domains) else "cpu-package"
        self.info = MeterInfo(
            name="pyjoules",
            source=f"pyJoules EnergyMeter: {', '.join(domains)}",
            boundary=boundary,
            measurement=Measurement.MEASURED,
            sampling_period_s=0.001,
            uncertainty_rel=UNCERTAINTY_REL,
            details={
                "backend": "pyJoules",
                "domains_summed": domains,
                "wrap_handling": "pyJoules' own",
            },
        )

    @property
    def config(self) -> PyJoulesConfig:
        return PyJoulesConfig()

    def _probe_domains(self) -> list[str]:
        """The package/dram domains pyJoules reports, from one empty measurement."""
        try:
            self._meter.start(tag="probe")
            self._meter.stop()
            names = {n for s in self._meter.get_trace() for n in s.energy}
        except Exception as e:
            raise MeterError(f"pyJoules cannot measure: {e}") from e
        domains = sorted(n for n in names if _domain_kind(n) is not None)
        if not any(_domain_kind(n) == "package" for n in domains):
            raise MeterError(f"pyJoules reports no RAPL package domain (domains: {sorted(names)})")
        return domains

    def _begin(self) -> None:
        self._meter.start(tag="ecoscore-window")

    def _end(self, duration_s: float) -> WindowReading:
        updates = int(duration_s / 0.001)
        try:
            self._meter.stop()
            samples = list(self._meter.get_trace())
        except Exception as e:
            return WindowReading(0.0, duration_s, updates, False, f"pyJoules failed: {e}")
        if not samples:
            return WindowReading(0.0, duration_s, updates, False, "pyJoules returned no sample")
        wanted = self.info.details["domains_summed"]
        energy_uj: dict[str, float] = {}
        for sample in samples:
            for name, value in sample.energy.items():
                if name in wanted:
                    energy_uj[name] = energy_uj.get(name, 0.0) + float(value)
        missing = [n for n in wanted if n not in energy_uj]
        if missing:
            return WindowReading(
                0.0, duration_s, updates, False, f"pyJoules reported no value for {missing}"
            )
        if any(v < 0 for v in energy_uj.values()):
            return WindowReading(
                0.0, duration_s, updates, False, f"pyJoules reported negative energy {energy_uj}"
            )
        return WindowReading(
            sum(energy_uj.values()) * 1e-6,
            duration_s,
            updates,
            details={"energy_j_by_domain": {k: v * 1e-6 for k, v in energy_uj.items()}},
        )
