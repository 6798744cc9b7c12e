"""Energy MEASURED by an external instrument that writes a log of timestamped power samples.

Any USB power meter, smart plug or lab analyser whose samples can be exported as CSV::

    timestamp,power_w
    1732350000.000,12.41
    1732350000.100,12.57

``timestamp`` is Unix epoch seconds (float, the logger's clock); power is ``power_w``, or
``voltage_v`` and ``current_a`` (power = V x A). An optional ``boundary`` column (one value
for the whole log) declares where the instrument is wired; the default is "wall".

The run's windows are timed with perf_counter; at each window edge the meter records
time.time() and perf_counter() together and maps the window onto the epoch. At end_window
it reads the file (the logger may still be writing it: it waits a little for a sample past
the window's end) and integrates the samples over the window. A window the log does not
cover is invalid with its reason, never zero. Each reading carries the window's epoch
bounds, so a log recorded by an instrument that is read out after the run can be applied
afterwards with ``energy_between``.
"""

from __future__ import annotations

import csv
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from ecoscore.files import read_untrusted
from ecoscore.runners.meters.base import (
    Measurement,
    Meter,
    MeterConfig,
    MeterError,
    MeterInfo,
    WindowReading,
)
from ecoscore.runners.meters.base import integrate_window as integrate_samples

DEFAULT_BOUNDARY = "wall"
#: How long end_window waits for the logger to write a sample past the window's end.
DEFAULT_WAIT_S = 2.0
#: Stated relative uncertainty (1 sigma) when the user declares none: a typical USB meter.
DEFAULT_UNCERTAINTY_REL = 0.02


@dataclass(frozen=True)
class PowerLog:
    t: np.ndarray  # epoch seconds, increasing
    p: np.ndarray  # watts
    boundary: str | None

    @property
    def median_period_s(self) -> float | None:
        return float(np.median(np.diff(self.t))) if self.t.size >= 2 else None


def read_power_log(path: Path) -> PowerLog:
    """Read and parse the CSV log (see ``parse_power_log``)."""
    return parse_power_log(_read_log_bytes(path), path)


#: Largest power log read (a day of samples at 100 Hz is about 250 MB).
MAX_LOG_BYTES = 1024**3


def _read_log_bytes(path: Path) -> bytes:
    return read_untrusted(path, MAX_LOG_BYTES, MeterError, "power log")


def parse_power_log(data: bytes, path: Path) -> PowerLog:
    """Parse the CSV log. A malformed last line (a logger caught mid-write) is skipped; a
    malformed line elsewhere is an error naming the file, the line and the field."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MeterError(f"power log {path} is not UTF-8 text: {e}") from None
    lines = text.splitlines()
    complete = text.endswith("\n")
    rows = list(csv.reader(lines))
    if not rows:
        raise MeterError(f"power log {path} is empty: expected a header line")
    header = [h.strip().lower() for h in rows[0]]
    if "timestamp" not in header:
        raise MeterError(f"power log {path}: header has no 'timestamp' column: {rows[0]}")
    has_power = "power_w" in header
    if not has_power and not {"voltage_v", "current_a"} <= set(header):
        raise MeterError(
            f"power log {path}: header needs 'power_w', or 'voltage_v' and 'current_a': {rows[0]}"
        )
    col = {name: i for i, name in enumerate(header)}
    ts: list[float] = []
    ps: list[float] = []
    boundaries: set[str] = set()
    for n, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        try:
            t = float(row[col["timestamp"]])
            if has_power:
                p = float(row[col["power_w"]])
            else:
                p = float(row[col["voltage_v"]]) * float(row[col["current_a"]])
            if "boundary" in col and row[col["boundary"]].strip():
                boundaries.add(row[col["boundary"]].strip())
        except (ValueError, IndexError) as e:
            if n == len(rows) and not complete:
                break  # the logger is writing this line right now
            raise MeterError(f"power log {path} line {n}: {e}: {row}") from e
        ts.append(t)
        ps.append(p)
    if len(boundaries) > 1:
        raise MeterError(f"power log {path}: several boundaries in one log: {sorted(boundaries)}")
    t_arr = np.asarray(ts, dtype=np.float64)
    p_arr = np.asarray(ps, dtype=np.float64)
    order = np.argsort(t_arr, kind="stable")
    t_arr, p_arr = t_arr[order], p_arr[order]
    keep = np.concatenate([[True], np.diff(t_arr) > 0]) if t_arr.size else np.array([], bool)
    return PowerLog(t_arr[keep], p_arr[keep], boundaries.pop() if boundaries else None)


def energy_between(log: PowerLog, t0_epoch: float, t1_epoch: float) -> WindowReading:
    """The energy of the log's samples over [t0, t1] (epoch seconds); invalid if uncovered."""
    duration = t1_epoch - t0_epoch
    period = log.median_period_s
    if log.t.size < 2 or log.t[0] > t0_epoch or log.t[-1] < t1_epoch:
        covered = f"[{log.t[0]:.3f}, {log.t[-1]:.3f}]" if log.t.size else "nothing"
        return WindowReading(
            0.0,
            duration,
            int(log.t.size),
            False,
            f"the power log covers {covered} but the window is "
            f"[{t0_epoch:.3f}, {t1_epoch:.3f}] (epoch s)",
        )
    r = integrate_samples(log.t, log.p, t0_epoch, t1_epoch, None, period)
    details = {**r.details, "log_median_period_s": period}
    return WindowReading(
        r.energy_j, r.duration_s, r.sensor_updates, r.valid, r.invalid_reason, details
    )


class CsvLogConfig(MeterConfig):
    """external instrument's power log (timestamp, power_w or voltage_v+current_a)"""

    covers: ClassVar[str] = "what the instrument is wired to"
    reads_external_log: ClassVar[bool] = True
    path_settings: ClassVar[tuple[str, ...]] = ("path",)

    meter: Literal["csv"] = "csv"
    path: str = Field(min_length=1)
    boundary: str | None = None  # where the instrument is wired (default: the log's, or wall)
    clock_offset_s: float = 0.0

    @classmethod
    def from_spec(cls, arg: str | None, device: str, boundary: str | None) -> CsvLogConfig:
        if not arg:
            raise MeterError("csv meter needs a path: --meter csv:PATH")
        return cls(path=arg, boundary=boundary)

    def build(self) -> CsvPowerLogMeter:
        return CsvPowerLogMeter(self.path, self.boundary, self.clock_offset_s)


class CsvPowerLogMeter(Meter):
    """Windows integrated from an external instrument's CSV power log, aligned by epoch time."""

    def __init__(
        self,
        path: str | Path,
        boundary: str | None = None,
        clock_offset_s: float = 0.0,
        wait_s: float = DEFAULT_WAIT_S,
        uncertainty_rel: float = DEFAULT_UNCERTAINTY_REL,
        instrument: str | None = None,
    ) -> None:
        super().__init__()
        self._declared_boundary = boundary
        self.path = Path(path)
        self.clock_offset_s = clock_offset_s
        self.wait_s = wait_s
        log = read_power_log(self.path) if self.path.exists() else None
        declared = boundary or (log.boundary if log else None)
        self.info = MeterInfo(
            name="csv",
            source=f"power log {self.path}" + (f" ({instrument})" if instrument else ""),
            boundary=declared or DEFAULT_BOUNDARY,
            measurement=Measurement.MEASURED,
            sampling_period_s=log.median_period_s if log else None,
            uncertainty_rel=uncertainty_rel,
            details={
                "log_path": str(self.path),
                "boundary_source": "declared option"
                if boundary
                else ("log's boundary column" if declared else f"default ({DEFAULT_BOUNDARY})"),
                "clock_offset_s": clock_offset_s,
                "log_existed_at_start": log is not None,
                "alignment": "window perf_counter times mapped to epoch with time.time() "
                "recorded at both edges",
            },
        )
        self._begin_perf = 0.0
        self._begin_offset = 0.0
        self._read_sha256: str | None = None
        self._read_size: int | None = None

    def external_log(self) -> tuple[str, int] | None:
        """The log's bytes as last read (at the last window's end): sha256 and size. The
        instrument may go on appending: a bundle carries that many first bytes."""
        if self._read_sha256 is None or self._read_size is None:
            return None
        return self._read_sha256, self._read_size

    @property
    def config(self) -> CsvLogConfig:
        return CsvLogConfig(
            path=str(self.path),
            boundary=self._declared_boundary,
            clock_offset_s=self.clock_offset_s,
        )

    def _begin(self) -> None:
        self._begin_offset = _epoch_offset()
        self._begin_perf = time.perf_counter()

    def _end(self, duration_s: float) -> WindowReading:
        end_offset = _epoch_offset()
        offset = (self._begin_offset + end_offset) / 2
        t0 = self._begin_perf + offset
        t1 = t0 + duration_s
        reading = self._read_covering(t1)
        if isinstance(reading, str):
            r = WindowReading(0.0, duration_s, None, False, reading)
        else:
            r = energy_between(reading, t0, t1)
        details = {
            **r.details,
            "window_epoch_start": t0,
            "window_epoch_end": t1,
            "clock_drift_in_window_s": end_offset - self._begin_offset,
        }
        return WindowReading(
            r.energy_j, duration_s, r.sensor_updates, r.valid, r.invalid_reason, details
        )

    def _read_covering(self, t1_epoch: float) -> PowerLog | str:
        """The log, once it has a sample at or after t1 (or wait_s is over); else a reason."""
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                data = _read_log_bytes(self.path)
                log = parse_power_log(data, self.path)
                self._read_sha256 = hashlib.sha256(data).hexdigest()
                self._read_size = len(data)
            except MeterError as e:
                if time.monotonic() >= deadline or self.path.exists():
                    return str(e)
            else:
                log = self._shifted(log)
                if (log.t.size and log.t[-1] >= t1_epoch) or time.monotonic() >= deadline:
                    return log
            time.sleep(0.02)

    def _shifted(self, log: PowerLog) -> PowerLog:
        if not self.clock_offset_s:
            return log
        return PowerLog(log.t + self.clock_offset_s, log.p, log.boundary)


def _epoch_offset() -> float:
    """time.time() - perf_counter(), taken as close together as Python allows."""
    a = time.perf_counter()
    e = time.time()
    b = time.perf_counter()
    return e - (a + b) / 2
