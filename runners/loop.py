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
  appends).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ecoscore.record import IdleBaseline, ScenarioResult, Window
from ecoscore.runners.engines.base import Engine
from ecoscore.runners.interference import InterferenceProbe
from ecoscore.runners.meters.base import Meter, WindowReading
from ecoscore.runners.stats import latency_summary, median_stat


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


def measure_idle(meter: Meter, duration_s: float) -> IdleBaseline:
    """The boundary's idle power, measured before the run with nothing running."""
    meter.begin_window()
    time.sleep(duration_s)
    r = meter.end_window()
    power = r.energy_j / r.duration_s if r.valid and r.duration_s > 0 else 0.0
    return IdleBaseline(
        power_w=power,
        energy_j=r.energy_j,
        duration_s=r.duration_s,
        valid=r.valid,
        invalid_reason=r.invalid_reason,
    )


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


def _window(
    r: WindowReading,
    idle_w: float,
    queries: int,
    batch: int,
    span_unix: tuple[float, float],
    seen: dict[str, object] | None = None,
) -> Window:
    """A record window; ``span_unix`` is its wall-clock span, for aligning external logs."""
    return Window(
        energy_j=r.energy_j,
        net_energy_j=r.energy_j - idle_w * r.duration_s,
        duration_s=r.duration_s,
        queries=queries,
        inferences=queries * batch,
        sensor_updates=r.sensor_updates,
        valid=r.valid,
        invalid_reason=r.invalid_reason,
        details={
            **r.details,
            **(seen or {}),
            "t0_unix": round(span_unix[0], 6),
            "t1_unix": round(span_unix[1], 6),
        },
    )


def measure_scenario(
    engine: Engine,
    meter: Meter,
    batches: list,
    settings: ScenarioSettings,
    idle_power_w: float,
    progress: Progress | None = None,
    probe: InterferenceProbe | None = None,
) -> ScenarioResult:
    """Warm up, then measure ``settings.repeats`` windows of the scenario."""
    single = settings.name == "single_stream"
    sync = engine.needs_sync
    duration = effective_duration(meter, settings)
    min_ns = int(duration * 1e9)
    pace = _warmup(engine, batches, settings.warmup_s)
    capacity = expected_queries(duration, pace, settings.min_queries) if single else 0
    windows: list[Window] = []
    all_lat: list[np.ndarray] = []
    for rep in range(settings.repeats):
        engine.synchronize()
        if probe:
            probe.begin()
        meter.begin_window()
        t0_unix = time.time()
        if single:
            lat, queries = _single_stream_window(
                engine, batches, min_ns, settings.min_queries, sync, capacity
            )
            all_lat.append(lat)
        else:
            queries = _offline_window(engine, batches, min_ns, settings.min_queries)
        t1_unix = time.time()
        reading = meter.end_window()
        seen = probe.end() if probe else {}
        windows.append(
            _window(reading, idle_power_w, queries, settings.batch_size, (t0_unix, t1_unix), seen)
        )
        if progress:
            progress(rep + 1, settings.repeats)
    return summarise(settings, duration, windows, all_lat)


def summarise(
    settings: ScenarioSettings,
    duration: float,
    windows: list[Window],
    latencies: list[np.ndarray],
) -> ScenarioResult:
    valid = [w for w in windows if w.valid]
    all_valid = len(valid) == len(windows)
    throughput = median_stat([w.inferences / w.duration_s for w in windows])
    epi = net = power = None
    if valid:
        epi = median_stat([w.energy_j / w.inferences for w in valid])
        net = median_stat([w.net_energy_j / w.inferences for w in valid])
        power = median_stat([w.energy_j / w.duration_s for w in valid])
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
    )
