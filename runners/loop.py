"""The measurement loop: drive an engine through a scenario while a meter records.

Rules enforced here (docs/architecture.md, "What makes a number trustworthy"):
- warm-up runs before every scenario and is excluded from every window;
- a window lasts at least ``min_duration_s`` (lengthened to what the meter needs to span
  enough sensor updates, except in quick mode, where a short window is flagged instead) and
  serves at least ``min_queries`` queries;
- the engine is synchronised at every window edge, so that energy and time cover the same
  work;
- per-query bookkeeping is one ``perf_counter_ns`` read stored into a preallocated list:
  no logging, no progress redraw, no allocation in the timed loop;
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
from ecoscore.runners.meters.base import Meter, WindowReading
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


def _warmup(engine: Engine, batches: list, seconds: float) -> None:
    run = engine.run_prepared
    deadline = time.perf_counter() + seconds
    i = 0
    while i < 3 or time.perf_counter() < deadline:
        run(batches[i % len(batches)])
        i += 1
    engine.synchronize()


def _single_stream_window(
    engine: Engine, batches: list, min_ns: int, min_queries: int, sync: bool
) -> tuple[np.ndarray, int]:
    """Run queries back to back until both minimums are met; return latencies (ns).

    One clock read per query: query i is issued as soon as query i-1 completes, so its
    latency is the difference of consecutive completion times (it includes the loop's own
    few hundred nanoseconds, and nothing else). The first ``min_queries`` timestamps go
    into a preallocated list; the loop then runs on to the deadline.
    """
    run = engine.run_prepared
    synchronize = engine.synchronize
    perf = time.perf_counter_ns
    nb = len(batches)
    ts = [0] * (min_queries + 1)
    ts[0] = t = perf()
    deadline = t + min_ns
    for i in range(1, min_queries + 1):
        run(batches[i % nb])
        if sync:
            synchronize()
        ts[i] = perf()
    i = min_queries
    t = ts[i]
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
    """Warm up, then measure ``settings.repeats`` windows of the scenario; the warm-up and
    each window may last at most ``time_limit_s`` (with a ``watchdog``)."""
    single = settings.name == "single_stream"
    sync = engine.needs_sync
    duration = effective_duration(meter, settings)
    min_ns = int(duration * 1e9)
    with _phase(watchdog, f"the {settings.name} warm-up", time_limit_s):
        _warmup(engine, batches, settings.warmup_s)
    windows: list[Window] = []
    all_lat: list[np.ndarray] = []
    for rep in range(settings.repeats):
        engine.synchronize()
        if probe:
            probe.begin()
        meter.begin_window()
        t0_unix = time.time()
        with _phase(watchdog, f"{settings.name} window {rep + 1}", time_limit_s):
            if single:
                lat, queries = _single_stream_window(
                    engine, batches, min_ns, settings.min_queries, sync
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
