"""Choosing the engine's thread settings per scenario (``--threads auto``, the default).

A grade must not depend on a thread count nobody chose. The engine's defaults (one
intra-op thread per logical CPU, spinning on) can make a small model much slower than its
best simple setting, so during each scenario's warm-up the run tries the simple settings
and keeps the best one (docs/measuring.md, "Engine settings").

Rules enforced here:
- only the settings a config leaves ``"auto"`` are tried; a setting given by the user (the
  command line, a campaign, ``reproduce``) is used as given and recorded as user-chosen,
  one the config leaves to the engine (``None``) as engine-default;
- the candidates are the simple settings: every thread count from 1 to the logical CPUs
  (above ``MAX_EVERY_COUNT`` CPUs, the powers of two and the CPU count), times on and off
  for each switch the engine has (onnxruntime's spinning);
- trials run on the scenario's own prepared batches at its batch size, interleaved
  round-robin over the candidates (``ROUNDS`` passes; one in a quick run), so that a change
  of the machine's load spreads over every candidate instead of deciding between them; after
  each switch ``SETTLE_QUERIES`` queries run unmeasured;
- the time is bounded: the candidates share ``TUNING_WARMUP_FACTOR`` x the scenario's
  warm-up time, split evenly into slots of at least ``MIN_TRIAL_QUERIES`` queries; once the
  wall time spent (switching included) passes ``HARD_BOUND_FACTOR`` x that budget, the
  candidates not yet measured are recorded as not tried;
- the criterion is the lowest gross energy per inference when the meter is MEASURED and
  the sensor was seen to update at least ``MIN_TRIAL_UPDATES`` times in every candidate's
  trial; else, in single-stream, the lowest median query latency (what the record reports
  of that scenario) and, offline, the lowest time per inference (the inverse of the
  throughput it reports); the record says which, and why; ties go to the earlier candidate
  (fewer threads);
- a candidate the engine refuses is recorded with the reason, never silently dropped; the
  record lists every candidate with its figures and the choice (``ecoscore.record.Tuning``).

The clocks are arguments, so that a test drives a fake engine whose speed depends on its
settings with injected time, without racing the machine.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecoscore.errors import EcoscoreError
from ecoscore.record import Tuning, TuningTrial
from ecoscore.runners.engines.base import Engine, EngineConfig, EngineError, machine_cpus
from ecoscore.runners.loop import stamped_calls
from ecoscore.runners.meters.base import Measurement, Meter

AUTO = "auto"
#: Up to this many logical CPUs, every thread count is tried; above, powers of two and all.
MAX_EVERY_COUNT = 8
#: The candidates' measuring time, as a multiple of the scenario's warm-up time.
TUNING_WARMUP_FACTOR = 2.0
#: Past this multiple of the budget in wall time (switching included), stop trying.
HARD_BOUND_FACTOR = 3.0
#: Interleaved passes over the candidates in a full run (a quick run makes one).
ROUNDS = 2
#: A slot measures at least this many queries, however slow the model.
MIN_TRIAL_QUERIES = 5
#: Queries run unmeasured after a switch (a new session's first calls are slow).
SETTLE_QUERIES = 3
#: Energy decides only when every trial saw at least this many sensor updates.
MIN_TRIAL_UPDATES = 10

CRITERION_ENERGY = "energy_per_inference_j"
CRITERION_LATENCY = "latency_p50_s"
CRITERION_TIME = "time_per_inference_s"


def thread_counts(cpus: int) -> list[int]:
    """The thread counts tried on a machine with ``cpus`` logical CPUs."""
    cpus = max(1, cpus)
    if cpus <= MAX_EVERY_COUNT:
        return list(range(1, cpus + 1))
    counts = {cpus}
    n = 1
    while n < cpus:
        counts.add(n)
        n *= 2
    return sorted(counts)


def search_space(config: EngineConfig, cpus: int | None = None) -> dict[str, list[Any]]:
    """The values tried for each of the config's ``"auto"`` settings (threads: counts from
    ``thread_counts``; any other tunable setting is a switch: on, then off)."""
    cpus = cpus or machine_cpus()
    space: dict[str, list[Any]] = {}
    for key in type(config).tunable:
        if getattr(config, key, None) != AUTO:
            continue
        space[key] = thread_counts(cpus) if key == "threads" else [True, False]
    return space


def candidates(space: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the space's values, fewer threads first."""
    keys = list(space)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*space.values())]


def origin(config: EngineConfig) -> dict[str, str]:
    """Per tunable setting: ``auto``, ``user-chosen`` (set explicitly in the config) or
    ``engine-default`` (left to the engine or to the config's default)."""
    out: dict[str, str] = {}
    for key in type(config).tunable:
        value = getattr(config, key, None)
        if value == AUTO:
            out[key] = "auto"
        elif key in config.model_fields_set and value is not None:
            out[key] = "user-chosen"
        else:
            out[key] = "engine-default"
    return out


def auto_settings(config_class: type[EngineConfig], device: str, given: dict[str, Any]) -> dict:
    """The engine settings of a run, with ``"auto"`` filled in where the run chooses: on the
    CPU, when the user gave no thread count (or ``threads=auto``), each tunable setting the
    user did not give is ``"auto"``. An explicit thread count leaves everything as given."""
    tunable = config_class.tunable
    threads = given.get("threads")
    if not tunable or (threads is not None and threads != AUTO):
        return dict(given)
    if threads is None and device != "cpu":
        return dict(given)  # a GPU run keeps the engine's CPU-side defaults unless asked
    out = dict(given)
    for key in tunable:
        out.setdefault(key, AUTO)
    return out


def tuning_budget_s(warmup_s: float) -> float:
    return TUNING_WARMUP_FACTOR * warmup_s


def fixed_tuning(engine: Engine, requested: EngineConfig) -> Tuning | None:
    """The record of a scenario whose settings were not tuned (None: the engine has no
    tunable settings)."""
    tunable = type(requested).tunable
    if not tunable:
        return None
    where = origin(requested)
    mode = "user-chosen" if "user-chosen" in where.values() else "engine-default"
    chosen = {k: getattr(engine.config, k) for k in tunable}
    return Tuning(mode=mode, origin=where, chosen=chosen)  # type: ignore[arg-type]


@dataclass
class _Trial:
    settings: dict[str, Any]
    latencies: list[np.ndarray] = field(default_factory=list)
    queries: int = 0
    inferences: int = 0
    seconds: float = 0.0
    energy_j: float = 0.0
    energy_ok: bool = True
    updates: int = 0
    failed: str | None = None

    @property
    def measured(self) -> bool:
        return self.queries > 0

    def latency_p50_s(self) -> float | None:
        if not self.latencies:
            return None
        return float(np.median(np.concatenate(self.latencies))) / 1e9

    def time_per_inference_s(self) -> float | None:
        return self.seconds / self.inferences if self.inferences else None

    def energy_per_inference_j(self) -> float | None:
        if not self.energy_ok or self.inferences == 0:
            return None
        return self.energy_j / self.inferences

    def record(self, meter_measured: bool) -> TuningTrial:
        return TuningTrial(
            settings=self.settings,
            queries=self.queries,
            inferences=self.inferences,
            seconds=round(self.seconds, 6),
            latency_p50_s=self.latency_p50_s(),
            time_per_inference_s=self.time_per_inference_s(),
            energy_per_inference_j=self.energy_per_inference_j() if meter_measured else None,
            sensor_updates=self.updates if meter_measured and self.measured else None,
            failed=self.failed,
        )


@dataclass
class Tuner:
    """Tries the candidates of ``requested``'s ``"auto"`` settings on ``engine`` (loaded,
    at its default settings) and leaves it at the best one."""

    engine: Engine
    requested: EngineConfig
    meter: Meter | None
    budget_s: float
    rounds: int = ROUNDS
    cpus: int | None = None
    clock_ns: Callable[[], int] = time.perf_counter_ns
    wall: Callable[[], float] = time.perf_counter

    def run(self, batches: list, batch_size: int, scenario: str = "single_stream") -> Tuning:
        space = search_space(self.requested, self.cpus)
        if not space:
            tuning = fixed_tuning(self.engine, self.requested)
            assert tuning is not None
            return tuning
        trials = [_Trial(c) for c in candidates(space)]
        measured_meter = (
            self.meter is not None and self.meter.info.measurement is Measurement.MEASURED
        )
        slot_ns = int(self.budget_s / (len(trials) * self.rounds) * 1e9)
        start = self.wall()
        bound = HARD_BOUND_FACTOR * self.budget_s
        for _ in range(self.rounds):
            for trial in trials:
                if trial.failed is not None:
                    continue
                if self.wall() - start > bound:
                    if not trial.measured:
                        trial.failed = (
                            f"not tried: the tuning time bound ({bound:.3g} s) was reached"
                        )
                    continue
                if not self._switch(trial):
                    continue
                self._slot(trial, batches, batch_size, slot_ns, measured_meter)
        done = [t for t in trials if t.measured and t.failed is None]
        if not done:
            reasons = "; ".join(f"{t.settings}: {t.failed}" for t in trials)
            raise EngineError(f"no engine setting could be run ({reasons})")
        criterion, why = _criterion(done, measured_meter, scenario)
        best = min(done, key=lambda t: (_figure(t, criterion), trials.index(t)))
        self._apply(best.settings)
        return Tuning(
            mode="auto",
            origin=origin(self.requested),  # type: ignore[arg-type]
            chosen={k: getattr(self.engine.config, k) for k in type(self.requested).tunable},
            criterion=criterion,  # type: ignore[arg-type]
            criterion_reason=why,
            trials=[t.record(measured_meter) for t in trials],
            rounds=self.rounds,
            budget_s=self.budget_s,
            spent_s=round(self.wall() - start, 6),
        )

    def _apply(self, settings: dict[str, Any]) -> None:
        current = {k: getattr(self.engine.config, k) for k in settings}
        if current != settings:
            self.engine.apply_settings(**settings)

    def _switch(self, trial: _Trial) -> bool:
        try:
            self._apply(trial.settings)
        except EcoscoreError as e:
            trial.failed = f"refused by the engine: {' '.join(str(e).split())[:300]}"
            return False
        return True

    def _slot(
        self, trial: _Trial, batches: list, batch_size: int, slot_ns: int, energy: bool
    ) -> None:
        eng = self.engine
        run, sync = eng.run_prepared, eng.synchronize
        nb = len(batches)
        for i in range(SETTLE_QUERIES):
            run(batches[i % nb])
        sync()
        if energy:
            assert self.meter is not None
            self.meter.begin_window()
        ts = stamped_calls(eng, batches, slot_ns, MIN_TRIAL_QUERIES, self.clock_ns)
        i = len(ts) - 1
        sync()
        if energy:
            assert self.meter is not None
            reading = self.meter.end_window()
            trial.updates += reading.sensor_updates or 0
            if reading.valid:
                trial.energy_j += reading.energy_j
            else:
                trial.energy_ok = False
        trial.latencies.append(np.diff(np.asarray(ts, dtype=np.int64)))
        trial.queries += i
        trial.inferences += i * batch_size
        trial.seconds += (ts[-1] - ts[0]) / 1e9


def _criterion(done: list[_Trial], measured_meter: bool, scenario: str) -> tuple[str, str]:
    speed, what = (
        (CRITERION_LATENCY, "lowest median latency")
        if scenario == "single_stream"
        else (CRITERION_TIME, "lowest time per inference")
    )
    if not measured_meter:
        return speed, f"no energy sensor (the meter is not MEASURED): {what}"
    short = [t for t in done if not t.energy_ok or t.updates < MIN_TRIAL_UPDATES]
    if short:
        fewest = min(t.updates for t in short)
        return (
            speed,
            f"the sensor updated too rarely in a trial ({fewest} update(s), fewer than "
            f"{MIN_TRIAL_UPDATES}) or a trial's reading was invalid: {what}",
        )
    return CRITERION_ENERGY, "a MEASURED meter: lowest gross energy per inference"


def _figure(trial: _Trial, criterion: str) -> float:
    value = {
        CRITERION_ENERGY: trial.energy_per_inference_j,
        CRITERION_LATENCY: trial.latency_p50_s,
        CRITERION_TIME: trial.time_per_inference_s,
    }[criterion]()
    return float("inf") if value is None else value
