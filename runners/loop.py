"""The measurement loop: drive an engine through a scenario while a meter records.

Rules enforced here (docs/architecture.md, "What makes a number trustworthy"):
- warm-up runs before every scenario and is excluded from every window;
- a window ends on time: it lasts ``min_duration_s`` (lengthened to what the meter needs
  to span enough sensor updates, except in quick mode, where a short window is flagged
  instead); ``min_queries`` is only a floor, so a full run lasts about as long for a fast
  model as for a slow one (the query that crosses the deadline completes);
- the engine is synchronised at every window edge, so that energy and time cover the same
  work;
- per-query bookkeeping is one ``perf_counter_ns`` read stored into a list preallocated
  from the warm-up's pace; the deadline is compared once per chunk of queries: no logging,
  no progress redraw, no allocation in the timed loop (a window that outruns the estimate
  appends);
- the warm-up and each window run under the run's time limit (``ecoscore.runners.watchdog``),
  armed once per window: a model that never finishes is stopped, and Ctrl-C or SIGTERM
  stops the engine, at no cost per query.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ecoscore.record import IdleBaseline, ScenarioResult, Window
from ecoscore.runners.engines.base import Engine
from ecoscore.runners.interference import InterferenceProbe
from ecoscore.runners.meters.base import Meter, WindowReading, require_updates
from ecoscore.runners.stats import latency_summary, median_stat

if TYPE_CHECKING:
    from ecoscore.runners.watchdog import Watchdog


@dataclass(frozen=True)
class ScenarioSettings:
    name: str  # "single_stream" or "offline"
    batch_size: int
    min_duration_s: float
    min_queries: int
    warmup_s: float
    repeats: int
    quick: bool = False


Progress = Callable[[int, int], None]


def effective_duration(meter: Meter, settings: ScenarioSettings) -> float:
    """The window length: the scenario's minimum, lengthened for the meter unless quick."""
    need = meter.min_window_s()
    if settings.quick:
        return settings.min_duration_s
    return max(settings.min_duration_s, need)


@dataclass(frozen=True)
class IdleReading:
    """An idle window and the clock time of its middle (for interpolating the drift)."""

    baseline: IdleBaseline
    t_mid: float


def measure_idle(meter: Meter, duration_s: float) -> IdleBaseline:
    """The boundary's power over ``duration_s`` with nothing of ours running."""
    return measure_idle_at(meter, duration_s).baseline


def measure_idle_at(meter: Meter, duration_s: float) -> IdleReading:
    t0 = time.perf_counter()
    meter.begin_window()
    time.sleep(duration_s)
    r = meter.end_window()
    t1 = time.perf_counter()
    power = r.energy_j / r.duration_s if r.valid and r.duration_s > 0 else 0.0
    baseline = IdleBaseline(
        power_w=power,
        energy_j=r.energy_j,
        duration_s=r.duration_s,
        valid=r.valid,
        invalid_reason=r.invalid_reason,
        sensor_updates=r.sensor_updates,
    )
    return IdleReading(baseline, (t0 + t1) / 2)


#: The device idle has settled when two consecutive spans agree within this share.
SETTLED_REL = 0.01


def measure_device_idle(
    meter: Meter, span_s: float, max_s: float, details: dict[str, object] | None = None
) -> IdleBaseline:
    """The device's idle power before the engine touches it: consecutive spans of
    ``span_s`` until two agree within 1 % (the power has settled) or ``max_s`` is spent.
    The last span is the figure; the details say whether it settled, and every span."""
    spans: list[IdleBaseline] = []
    settled = False
    while True:
        spans.append(measure_idle(meter, span_s))
        last = spans[-1]
        if not last.valid:
            break
        if len(spans) >= 2 and spans[-2].valid:
            prev = spans[-2].power_w
            if prev > 0 and abs(last.power_w - prev) <= SETTLED_REL * prev:
                settled = True
                break
        if sum(s.duration_s for s in spans) + span_s > max_s:
            break
    last = spans[-1]
    return last.model_copy(
        update={
            "details": {
                **(details or {}),
                "settled": settled,
                "settled_within_rel": SETTLED_REL,
                "span_s": span_s,
                "spans_power_w": [round(s.power_w, 6) for s in spans],
            }
        }
    )


@dataclass(frozen=True)
class IdleModel:
    """The idle levels a window's energy is taken above: the device idle (constant) and
    the ready idle, interpolated in time between the idle windows before and after the
    measured windows (constant when there is no window after)."""

    ready_before: float
    t_before: float = 0.0
    ready_after: float | None = None
    t_after: float = 0.0
    device: float | None = None

    @classmethod
    def constant(cls, ready_w: float) -> IdleModel:
        return cls(ready_before=ready_w)

    def ready_at(self, t: float) -> float:
        if self.ready_after is None or self.t_after <= self.t_before:
            return self.ready_before
        f = min(max((t - self.t_before) / (self.t_after - self.t_before), 0.0), 1.0)
        return self.ready_before + f * (self.ready_after - self.ready_before)


#: Most timestamps preallocated for one single-stream window (about 32 MB of list).
MAX_PREALLOCATED = 4_000_000


def _warmup(engine: Engine, batches: list, seconds: float) -> float:
    """Run for ``seconds`` (at least 3 queries); return the mean seconds per query."""
    run = engine.run_prepared
    t0 = time.perf_counter()
    deadline = t0 + seconds
    i = 0
    while i < 3 or time.perf_counter() < deadline:
        run(batches[i % len(batches)])
        i += 1
    engine.synchronize()
    return (time.perf_counter() - t0) / i


def expected_queries(duration_s: float, seconds_per_query: float, min_queries: int) -> int:
    """Timestamps to preallocate for a window: the warm-up's pace plus a quarter, at least
    ``min_queries``, at most ``MAX_PREALLOCATED``."""
    pace = duration_s / seconds_per_query if seconds_per_query > 0 else MAX_PREALLOCATED
    return int(min(MAX_PREALLOCATED, max(min_queries, 1.25 * pace + 16)))


def _single_stream_window(
    engine: Engine,
    batches: list,
    min_ns: int,
    min_queries: int,
    sync: bool,
    capacity: int | None = None,
) -> tuple[np.ndarray, int]:
    """Run queries back to back until the deadline has passed and at least ``min_queries``
    have run; return latencies (ns) and the query count.

    One clock read per query: query i is issued as soon as query i-1 completes, so its
    latency is the difference of consecutive completion times (it includes the loop's own
    few hundred nanoseconds, and nothing else). Timestamps go into a list preallocated for
    ``capacity`` queries (default ``min_queries``), filled in chunks of 1/256 of it: the
    deadline is compared once per chunk, so a window overruns it by at most one chunk
    (0.4 % of the expected queries) and the loop costs no more per query than a bare
    ``for``. Past the capacity, the loop appends and compares every query.
    """
    run = engine.run_prepared
    synchronize = engine.synchronize
    perf = time.perf_counter_ns
    nb = len(batches)
    cap = max(capacity or 0, min_queries, 1)
    chunk = max(1, min(4096, cap // 256))
    ts = [0] * (cap + 1)
    ts[0] = t = perf()
    deadline = t + min_ns
    i = 0
    while i < cap:
        for i in range(i + 1, min(i + chunk, cap) + 1):  # noqa: B020 - i counts queries
            run(batches[i % nb])
            if sync:
                synchronize()
            ts[i] = perf()
        t = ts[i]
        if t >= deadline and i >= min_queries:
            return np.diff(np.asarray(ts[: i + 1], dtype=np.int64)), i
    append = ts.append
    while t < deadline:
        i += 1
        run(batches[i % nb])
        if sync:
            synchronize()
        t = perf()
        append(t)
    return np.diff(np.asarray(ts, dtype=np.int64)), i


def _offline_window(engine: Engine, batches: list, min_ns: int, min_queries: int) -> int:
    run = engine.run_prepared
    perf = time.perf_counter_ns
    nb = len(batches)
    i = 0
    deadline = perf() + min_ns
    while i < min_queries or perf() < deadline:
        run(batches[i % nb])
        i += 1
    engine.synchronize()
    return i


@dataclass
class RawWindow:
    """A measured window before the idle levels are known (they are measured after)."""

    reading: WindowReading
    queries: int
    batch: int
    span_unix: tuple[float, float]
    t_mid: float
    seen: dict[str, object]

    def window(self, idle: IdleModel) -> Window:
        r = self.reading
        ready_w = idle.ready_at(self.t_mid)
        return Window(
            energy_j=r.energy_j,
            net_energy_j=r.energy_j - ready_w * r.duration_s,
            duration_s=r.duration_s,
            queries=self.queries,
            inferences=self.queries * self.batch,
            sensor_updates=r.sensor_updates,
            valid=r.valid,
            invalid_reason=r.invalid_reason,
            details={
                **r.details,
                **self.seen,
                "t0_unix": round(self.span_unix[0], 6),
                "t1_unix": round(self.span_unix[1], 6),
            },
            ready_idle_w=ready_w,
            attributable_energy_j=(
                r.energy_j - idle.device * r.duration_s if idle.device is not None else None
            ),
        )


@dataclass
class RawScenario:
    settings: ScenarioSettings
    duration: float
    windows: list[RawWindow]
    latencies: list[np.ndarray]
    sensor_period_s: float | None = None

    def result(self, idle: IdleModel, **extra: object) -> ScenarioResult:
        windows = [w.window(idle) for w in self.windows]
        return summarise(self.settings, self.duration, windows, self.latencies, **extra)


def measure_windows(
    engine: Engine,
    meter: Meter,
    batches: list,
    settings: ScenarioSettings,
    progress: Progress | None = None,
    probe: InterferenceProbe | None = None,
    watchdog: Watchdog | None = None,
    time_limit_s: float | None = None,
) -> RawScenario:
    """Warm up, then measure ``settings.repeats`` windows of the scenario. Progress is
    reported between windows only. The warm-up and each window may last at most
    ``time_limit_s`` (with a ``watchdog``, armed once per phase)."""
    single = settings.name == "single_stream"
    duration = effective_duration(meter, settings)
    min_ns = int(duration * 1e9)
    with _phase(watchdog, f"the {settings.name} warm-up", time_limit_s):
        pace = _warmup(engine, batches, settings.warmup_s)
    capacity = expected_queries(duration, pace, settings.min_queries) if single else 0
    windows: list[RawWindow] = []
    all_lat: list[np.ndarray] = []
    for rep in range(settings.repeats):
        engine.synchronize()
        window, lat = measure_window(
            engine,
            meter,
            batches,
            settings,
            min_ns,
            capacity,
            probe,
            _phase(watchdog, f"{settings.name} window {rep + 1}", time_limit_s),
        )
        windows.append(window)
        if lat is not None:
            all_lat.append(lat)
        if progress:
            progress(rep + 1, settings.repeats)
    return RawScenario(settings, duration, windows, all_lat, meter.info.sampling_period_s)


def measure_window(
    engine: Engine,
    meter: Meter,
    batches: list,
    settings: ScenarioSettings,
    min_ns: int,
    capacity: int,
    probe: InterferenceProbe | None,
    phase: Any,
) -> tuple[RawWindow, np.ndarray | None]:
    """One measured window of a scenario (under ``phase``, the watchdog's time limit):
    the probe and the meter open around the queries, the clock read at both edges; a full
    run's window needs its observed sensor updates. Returns the window and, single-stream,
    its latencies."""
    lat = None
    if probe:
        probe.begin()
    meter.begin_window()
    t0 = time.perf_counter()
    t0_unix = time.time()
    with phase:
        if settings.name == "single_stream":
            lat, queries = _single_stream_window(
                engine, batches, min_ns, settings.min_queries, engine.needs_sync, capacity
            )
        else:
            queries = _offline_window(engine, batches, min_ns, settings.min_queries)
    t1_unix = time.time()
    t1 = time.perf_counter()
    reading = meter.end_window()
    if not settings.quick:  # a full run's window needs its observed sensor updates
        reading = require_updates(reading)
    seen = probe.end() if probe else {}
    window = RawWindow(
        reading, queries, settings.batch_size, (t0_unix, t1_unix), (t0 + t1) / 2, seen
    )
    return window, lat


def stamped_calls(
    engine: Engine, batches: list, span_ns: int, min_calls: int, clock: Callable[[], int]
) -> list[int]:
    """Call the engine one batch after the other, synchronised after each call where it
    needs it, for ``span_ns`` of ``clock`` and at least ``min_calls`` calls; the clock
    before the first call and after each (the short timings of tuning trials and of the
    empty-call floor; a window uses ``_single_stream_window``)."""
    run, sync, needs_sync = engine.run_prepared, engine.synchronize, engine.needs_sync
    nb = len(batches)
    stamps = [clock()]
    deadline = stamps[0] + span_ns
    i = 0
    while i < min_calls or stamps[-1] < deadline:
        run(batches[i % nb])
        if needs_sync:
            sync()
        stamps.append(clock())
        i += 1
    return stamps


def _phase(watchdog: Watchdog | None, what: str, limit_s: float | None) -> Any:
    if watchdog is None:
        return contextlib.nullcontext()
    return watchdog.phase(what, limit_s, "--window-time-limit")


def measure_scenario(
    engine: Engine,
    meter: Meter,
    batches: list,
    settings: ScenarioSettings,
    idle_power_w: float,
    progress: Progress | None = None,
    probe: InterferenceProbe | None = None,
    watchdog: Watchdog | None = None,
    time_limit_s: float | None = None,
) -> ScenarioResult:
    """Warm up, then measure the scenario's windows, with a constant ready idle; the
    warm-up and each window may last at most ``time_limit_s`` (with a ``watchdog``)."""
    raw = measure_windows(engine, meter, batches, settings, progress, probe, watchdog, time_limit_s)
    return raw.result(IdleModel.constant(idle_power_w))


def summarise(
    settings: ScenarioSettings,
    duration: float,
    windows: list[Window],
    latencies: list[np.ndarray],
    **extra: object,
) -> ScenarioResult:
    valid = [w for w in windows if w.valid]
    all_valid = len(valid) == len(windows)
    throughput = median_stat([w.inferences / w.duration_s for w in windows])
    epi = net = power = attributable = None
    if valid:
        epi = median_stat([w.energy_j / w.inferences for w in valid])
        net = median_stat([w.net_energy_j / w.inferences for w in valid])
        power = median_stat([w.energy_j / w.duration_s for w in valid])
        if all(w.attributable_energy_j is not None for w in valid):
            attributable = median_stat(
                [w.attributable_energy_j / w.inferences for w in valid]  # type: ignore[operator]
            )
    latency = latency_summary(np.concatenate(latencies)) if latencies else None
    return ScenarioResult(
        name=settings.name,  # type: ignore[arg-type]
        batch_size=settings.batch_size,
        min_duration_s=duration,
        min_queries=settings.min_queries,
        warmup_s=settings.warmup_s,
        windows=windows,
        valid=all_valid,
        energy_per_inference_j=epi,
        net_energy_per_inference_j=net,
        power_w=power,
        throughput_per_s=throughput,
        latency=latency,
        attributable_energy_per_inference_j=attributable,
        **extra,  # type: ignore[arg-type]
    )
