"""Energy MEASURED by a Joulescope DC energy analyser (Jetperch's ``joulescope`` driver).

The instrument sits in series with the device's supply, so the boundary is what the user
wires it to: "device-input" by default, or a declared boundary. The driver reports
statistics periodically (the ``reduction_frequency``) with an energy accumulator in joules;
the meter timestamps each report on arrival (perf_counter) and interpolates the accumulator
at the window edges. The report latency is roughly constant, so it cancels between the two
edges; its jitter is bounded by one report period.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from typing import Any, ClassVar, Literal

import numpy as np

from ecoscore.runners.meters.base import (
    Measurement,
    Meter,
    MeterConfig,
    MeterError,
    MeterInfo,
    WindowReading,
)

DEFAULT_BOUNDARY = "device-input"
#: Statistics rate requested from the instrument (the driver's default is 2 Hz).
REDUCTION_FREQUENCY = "50 Hz"
NOMINAL_PERIOD_S = 0.02
#: Stated relative uncertainty (1 sigma): Joulescope JS110/JS220 accuracy is ~0.5 %.
UNCERTAINTY_REL = 0.01


def open_joulescope() -> Any:
    """The one connected Joulescope, through the lazily imported driver."""
    try:
        import joulescope
    except ImportError as e:
        raise MeterError("Joulescope meter needs its Python driver: pip install joulescope") from e
    try:
        return joulescope.scan_require_one(config="auto")
    except Exception as e:  # the driver raises RuntimeError when none or several are found
        raise MeterError(f"no single Joulescope connected: {e}") from e


class JoulescopeConfig(MeterConfig):
    """Joulescope energy analyser in series with the device's supply, MEASURED"""

    covers: ClassVar[str] = "what the instrument is wired to"

    meter: Literal["joulescope"] = "joulescope"
    boundary: str | None = None  # where it is wired (default: device-input)

    @classmethod
    def from_spec(cls, arg: str | None, device: str, boundary: str | None) -> JoulescopeConfig:
        if arg is not None:
            raise MeterError("--meter joulescope takes no argument (use --boundary)")
        return cls(boundary=boundary)

    @classmethod
    def status(cls) -> tuple[bool, str]:
        if importlib.util.find_spec("joulescope") is None:
            return False, "Joulescope driver: not installed (pip install joulescope)"
        return True, "Joulescope driver: joulescope installed (instrument not probed)"

    def build(self) -> JoulescopeMeter:
        return JoulescopeMeter(boundary=self.boundary)


class JoulescopeMeter(Meter):
    """Windows from the Joulescope's energy accumulator, interpolated at the edges."""

    def __init__(self, boundary: str | None = None, device: Any = None) -> None:
        super().__init__()
        self._declared_boundary = boundary
        self.device = device if device is not None else open_joulescope()
        self._lock = threading.Lock()
        self._t: list[float] = []
        self._e: list[float] = []
        self._t0 = 0.0
        self.info = MeterInfo(
            name="joulescope",
            source=f"Joulescope {getattr(self.device, 'device_serial_number', '')}".strip()
            + " energy accumulator",
            boundary=boundary or DEFAULT_BOUNDARY,
            measurement=Measurement.MEASURED,
            sampling_period_s=NOMINAL_PERIOD_S,
            uncertainty_rel=UNCERTAINTY_REL,
            details={
                "boundary_source": "declared" if boundary else f"default ({DEFAULT_BOUNDARY})",
                "requested_reduction_frequency": REDUCTION_FREQUENCY,
                "method": "energy accumulator timestamped on arrival, interpolated at the edges",
            },
        )

    @property
    def config(self) -> JoulescopeConfig:
        return JoulescopeConfig(boundary=self._declared_boundary)

    def _on_statistics(self, stats: dict[str, Any], *_: object) -> None:
        energy = float(stats["accumulators"]["energy"]["value"])
        with self._lock:
            self._t.append(time.perf_counter())
            self._e.append(energy)

    def start(self) -> None:
        self.device.statistics_callback_register(self._on_statistics, "sensor")
        self.device.open()
        try:
            self.device.parameter_set("reduction_frequency", REDUCTION_FREQUENCY)
        except Exception:  # older firmware or the JS220 API: keep the driver's default rate
            self.info.details["requested_reduction_frequency"] = "driver default"
        self.device.parameter_set("i_range", "auto")

    def close(self) -> None:
        self.device.close()

    def _begin(self) -> None:
        self._t0 = time.perf_counter()

    def _end(self, duration_s: float) -> WindowReading:
        t1 = self._t0 + duration_s
        deadline = time.perf_counter() + 10 * NOMINAL_PERIOD_S + 1.0  # covers a 2 Hz default
        while time.perf_counter() < deadline:
            with self._lock:
                if self._t and self._t[-1] >= t1:
                    break
            time.sleep(NOMINAL_PERIOD_S / 2)
        with self._lock:
            t = np.asarray(self._t)
            e = np.asarray(self._e)
        if t.size < 2 or t[0] > self._t0 or t[-1] < t1:
            return WindowReading(
                0.0, duration_s, int(t.size), False, "Joulescope statistics do not cover the window"
            )
        inside = int(((t > self._t0) & (t < t1)).sum())
        energy = float(np.interp(t1, t, e) - np.interp(self._t0, t, e))
        period = float(np.median(np.diff(t)))
        return WindowReading(energy, duration_s, inside, details={"achieved_period_s": period})
