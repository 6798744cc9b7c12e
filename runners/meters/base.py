"""The meter interface: a typed config builds a meter; the meter opens a window, closes it,
and gives joules with their pedigree.

Every reading says at which boundary it was taken (gpu, cpu-package, cpu+dram, board-input,
wall, ...), by which source, at which sampling period, and whether it is MEASURED by a sensor
or ESTIMATED by a model. An estimate is never presented as a measurement.

Two families of meters share this interface:
- counter meters read a cumulative energy counter at the window edges (RAPL, NVML's total
  energy counter);
- sampled meters poll a power sensor in a background thread and integrate the samples
  that fall in the window (Jetson INA3221 rails, Raspberry Pi PMIC, NVML power fallback,
  external power logs).

Sensor updates are observed, never computed from the duration: a counter meter polls its
counter during a window (at the sensor's period, never faster than ``OBSERVE_POLL_S``) and
counts the polls that saw it change (a lower bound on the counter's updates); a sampled
meter counts the power samples it read inside the window (each is a fresh reading). A
window that spans fewer than ``MIN_SENSOR_UPDATES`` is flagged here and invalid outside a
quick run (``runners.loop``); windows are planned ``UPDATE_MARGIN`` longer than that many
observation periods.

A new meter costs two files: its module (a ``MeterConfig`` subclass and the meter) and one
line in ``registry.METERS``. The config says how to read a ``--meter`` spec, whether the
meter applies to this machine for ``--meter auto`` (``detect``), and what ``ecoscore
meters`` shows (``status``); the record keeps the config, and ``reproduce`` rebuilds the
meter from it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from ecoscore.errors import MeasurementError


class Measurement(StrEnum):
    MEASURED = "MEASURED"
    ESTIMATED = "ESTIMATED"


class MeterError(MeasurementError):
    """A meter cannot be opened or read (no sensor, no permission, sensor vanished)."""


class SensorPermissionError(MeterError):
    """The sensor exists but this user may not read it. The selector falls back to the
    ESTIMATE with this message as the recorded reason (the message says how to grant
    access), instead of stopping the run."""


#: Sampling periods a config may ask for: faster polling would be a busy loop competing
#: with the model, slower would give too few samples to integrate.
MIN_PERIOD_S = 1e-3
MAX_PERIOD_S = 60.0
SamplingPeriod = Annotated[float, Field(ge=MIN_PERIOD_S, le=MAX_PERIOD_S)]


class MeterConfig(BaseModel):
    """The settings of one meter: built from a ``--meter`` spec, stored in the record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: What the meter measures, said when ``--meter auto`` could not read it.
    covers: ClassVar[str] = "the device"
    #: The boundaries this meter can report (None: any, as an external instrument is wired
    #: where the user says). verify checks a record's boundary against them.
    boundaries: ClassVar[tuple[str, ...] | None] = None
    #: True when the figures come from a log written by something ecoscore does not read
    #: itself (an external instrument's CSV): such a run is only self-reported.
    reads_external_log: ClassVar[bool] = False
    #: True for a model, not a sensor: its figures are ESTIMATED, whatever a record says.
    estimates: ClassVar[bool] = False
    #: Settings that name a file on the machine that made the config: a config read from a
    #: record (validation context ``{"from_record": True}``) that has one is refused, so
    #: that no file a record names is ever opened.
    path_settings: ClassVar[tuple[str, ...]] = ()

    meter: str

    @classmethod
    def from_spec(cls, arg: str | None, device: str, boundary: str | None) -> MeterConfig:
        """The config for ``--meter NAME[:ARG]`` on ``device`` (``boundary``: where an
        external instrument is wired)."""
        if arg is not None:
            raise MeterError(f"--meter {cls.model_fields['meter'].default} takes no argument")
        return cls()

    @classmethod
    def detect(cls, device: str) -> MeterConfig | None:
        """For ``--meter auto``: the config if this meter is the one to read for ``device``
        on this machine, else None. External instruments are never chosen automatically."""
        return None

    @classmethod
    def status(cls) -> tuple[bool, str]:
        """(available, one-line description) for ``ecoscore meters``."""
        return True, cls.__doc__.strip().splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def boundary_allowed(cls, config: dict[str, Any], boundary: str) -> bool:
        """Whether a record whose meter config is ``config`` can report ``boundary``."""
        return cls.boundaries is None or boundary in cls.boundaries

    @abstractmethod
    def build(self) -> Meter:
        """Open the meter these settings describe (raises MeterError when it cannot)."""

    @model_validator(mode="before")
    @classmethod
    def _no_path_from_a_record(cls, data: Any, info: ValidationInfo) -> Any:
        if (info.context or {}).get("from_record") and isinstance(data, dict):
            named = [k for k in cls.path_settings if data.get(k) is not None]
            if named:
                raise ValueError(
                    f"the {data.get('meter')} meter reads a file the record names "
                    f"({named[0]}); a file named by a record is never opened: give this "
                    f"run's own with --meter {data.get('meter')}:PATH"
                )
        return data


@dataclass(frozen=True)
class MeterInfo:
    """What a meter measures and how."""

    name: str  # short id, as given to --meter (e.g. "rapl", "nvml", "codecarbon-estimate")
    source: str  # the sensor or library, e.g. "linux powercap intel-rapl:0 package-0"
    boundary: str  # gpu | cpu-package | cpu+dram | board-input | wall | ...
    measurement: Measurement
    sampling_period_s: float | None  # sensor update or polling period; None if not periodic
    uncertainty_rel: float  # stated relative uncertainty (1 sigma) of one window's energy
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowReading:
    """The energy of one window at the meter's boundary."""

    energy_j: float
    duration_s: float
    sensor_updates: int | None  # how many sensor updates/samples the window spans
    valid: bool = True
    invalid_reason: str | None = None
    details: dict[str, object] = field(default_factory=dict)

    @property
    def mean_power_w(self) -> float:
        return self.energy_j / self.duration_s if self.duration_s > 0 else float("nan")


#: The clock of window edges and counter reads. Tests replace it (``monkeypatch.setattr``)
#: with a clock that also drives a fake sensor, so that energy and time come from the same
#: instants whatever the load of the machine.
clock: Callable[[], float] = time.perf_counter

#: A window must span at least this many observed sensor updates to be trusted (outside a
#: quick run, a window with fewer is invalid: ``runners.loop``).
MIN_SENSOR_UPDATES = 100
#: Windows are planned this much longer than MIN_SENSOR_UPDATES observation periods, so that
#: the edges' alignment with the sensor's updates never leaves a full window one short.
UPDATE_MARGIN = 1.1
#: Counter meters poll their counter during a window to observe its updates; never faster
#: than this (a faster sensor is observed as a lower bound: one change per poll at most).
OBSERVE_POLL_S = 0.01


class Meter(ABC):
    """A source of energy readings over windows of time. One window open at a time."""

    info: MeterInfo

    def __init__(self) -> None:
        self._window_t0: float | None = None

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> None:  # noqa: B027 - optional hook
        """Acquire resources (open handles, start a sampler thread)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""

    def __enter__(self) -> Meter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- windows ----------------------------------------------------------------------
    def begin_window(self) -> None:
        """Read the clock, then the sensor (``_begin``); ``end_window`` does the same, so the
        edges of time and energy are taken in the same order."""
        if self._window_t0 is not None:
            raise MeterError(f"{self.info.name}: a window is already open")
        with self._edge_lock():
            t0 = clock()
            self._begin()
        self._window_t0 = t0

    def end_window(self) -> WindowReading:
        if self._window_t0 is None:
            raise MeterError(f"{self.info.name}: end_window() without begin_window()")
        with self._edge_lock():
            t1 = clock()
            duration = t1 - self._window_t0
            self._window_t0 = None
            reading = self._end(duration)
        return _check_updates(self.info, reading)

    def observation_period_s(self) -> float | None:
        """The interval between two observations of the sensor (the sensor's update period,
        or the meter's polling period when it polls more slowly); None: not periodic."""
        return self.info.sampling_period_s

    def min_window_s(self) -> float:
        """The shortest window expected to span MIN_SENSOR_UPDATES observed sensor updates
        (with ``UPDATE_MARGIN``)."""
        period = self.observation_period_s()
        if period is None:
            return 0.0
        return UPDATE_MARGIN * MIN_SENSOR_UPDATES * period

    def external_log(self) -> tuple[str, int] | None:
        """(sha256, size in bytes) of the external log this meter's figures come from, as
        last read; None when it read a sensor itself."""
        return None

    def _edge_lock(self) -> contextlib.AbstractContextManager[object]:
        """Held while a window edge reads the clock and the sensor. A meter whose own thread
        reads the sensor returns that thread's lock, so that nothing comes between the
        edge's two reads."""
        return contextlib.nullcontext()

    @property
    @abstractmethod
    def config(self) -> MeterConfig:
        """The settings this meter runs with (the record keeps them; reproduce rebuilds)."""

    @abstractmethod
    def _begin(self) -> None: ...

    @abstractmethod
    def _end(self, duration_s: float) -> WindowReading: ...


def _check_updates(info: MeterInfo, r: WindowReading) -> WindowReading:
    """Flag a measured window that spans too few observed sensor updates to be trusted
    (``require_updates`` then invalidates it outside a quick run)."""
    if (
        r.valid
        and info.measurement is Measurement.MEASURED
        and r.sensor_updates is not None
        and r.sensor_updates < MIN_SENSOR_UPDATES
    ):
        details = dict(r.details)
        details["too_few_sensor_updates"] = True
        return WindowReading(
            energy_j=r.energy_j,
            duration_s=r.duration_s,
            sensor_updates=r.sensor_updates,
            valid=r.valid,
            invalid_reason=r.invalid_reason,
            details=details,
        )
    return r


def require_updates(r: WindowReading) -> WindowReading:
    """The window, invalid when it was flagged for too few observed sensor updates (what a
    full run does; a quick run keeps the flag only)."""
    if not r.valid or not r.details.get("too_few_sensor_updates"):
        return r
    return replace(
        r,
        valid=False,
        invalid_reason=(
            f"the sensor was seen to update {r.sensor_updates} times in the window, fewer "
            f"than the {MIN_SENSOR_UPDATES} a window needs"
        ),
    )


class SampledPowerMeter(Meter):
    """A meter that polls instantaneous power in a background thread and integrates it.

    Subclasses implement ``read_power_w()``. Samples are kept with perf_counter timestamps
    in a growing numpy buffer; a window's energy is the trapezoidal integral of the samples
    inside it, with the power at the edges interpolated. A read error during a window marks
    the window invalid instead of recording a wrong figure.
    """

    def __init__(self, period_s: float) -> None:
        super().__init__()
        self.period_s = period_s
        self._lock = threading.Lock()
        self._t = np.empty(4096, dtype=np.float64)
        self._p = np.empty(4096, dtype=np.float64)
        self._n = 0
        self._error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._win_start_idx = 0
        self._win_t0 = 0.0

    @abstractmethod
    def read_power_w(self) -> float:
        """One instantaneous power reading in watts at the meter's boundary."""

    def start(self) -> None:
        self.read_power_w()  # fail early, in the caller's thread, if the sensor is unreadable
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"{self.info.name}-sampler")
        self._thread.daemon = True
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _append(self, t: float, p: float) -> None:
        with self._lock:
            if self._n == self._t.size:
                self._t = np.concatenate([self._t, np.empty_like(self._t)])
                self._p = np.concatenate([self._p, np.empty_like(self._p)])
            self._t[self._n] = t
            self._p[self._n] = p
            self._n += 1

    def _loop(self) -> None:
        next_t = time.perf_counter()
        while not self._stop.is_set():
            try:
                p = self.read_power_w()
            except Exception as e:  # the sensor vanished or errored: remember, keep trying
                with self._lock:
                    self._error = f"{type(e).__name__}: {e}"
            else:
                self._append(time.perf_counter(), p)
            next_t += self.period_s
            delay = next_t - time.perf_counter()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_t = time.perf_counter()

    def _begin(self) -> None:
        with self._lock:
            self._error = None
            self._win_start_idx = max(self._n - 1, 0)
        self._win_t0 = time.perf_counter()

    def _end(self, duration_s: float) -> WindowReading:
        t1 = self._win_t0 + duration_s
        # wait for one sample after the window edge so that the edge can be interpolated
        deadline = time.perf_counter() + 5 * self.period_s + 0.05
        while time.perf_counter() < deadline:
            with self._lock:
                if self._n and self._t[self._n - 1] >= t1:
                    break
            time.sleep(self.period_s / 4)
        with self._lock:
            t = self._t[self._win_start_idx : self._n].copy()
            p = self._p[self._win_start_idx : self._n].copy()
            error = self._error
        return integrate_window(t, p, self._win_t0, t1, error, self.period_s)


def integrate_window(
    t: np.ndarray,
    p: np.ndarray,
    t0: float,
    t1: float,
    error: str | None = None,
    nominal_period_s: float | None = None,
) -> WindowReading:
    """Trapezoidal energy of power samples (t, p) between t0 and t1.

    The power at t0 and t1 is interpolated from the neighbouring samples. A window with no
    sample inside, or with samples missing over more than 5 nominal periods, is invalid.
    """
    duration = t1 - t0
    if error is not None:
        return WindowReading(0.0, duration, int(t.size), False, f"sensor error: {error}")
    if t.size < 2 or t[0] > t0 + (nominal_period_s or 0) * 5 or t[-1] < t1:
        return WindowReading(
            0.0, duration, int(t.size), False, "not enough power samples cover the window"
        )
    inside = (t > t0) & (t < t1)
    ts = np.concatenate([[t0], t[inside], [t1]])
    ps = np.concatenate([[np.interp(t0, t, p)], p[inside], [np.interp(t1, t, p)]])
    gaps = np.diff(ts)
    if nominal_period_s and gaps.size and gaps.max() > 5 * nominal_period_s + 0.05:
        return WindowReading(
            0.0,
            duration,
            int(inside.sum()),
            False,
            f"power samples missing for {gaps.max():.3f} s inside the window",
        )
    energy = float(np.sum((ps[1:] + ps[:-1]) * 0.5 * gaps))
    n_inside = int(inside.sum())
    achieved = duration / n_inside if n_inside else None
    return WindowReading(
        energy,
        duration,
        n_inside,
        details={
            "achieved_period_s": achieved,
            "mean_power_w": energy / duration,
            "sensor_updates_observed_as": "power samples read inside the window",
        },
    )
