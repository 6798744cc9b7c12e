"""One benchmark run, from workload and model file to a validated run record.

Order of a run: check the model file; load it in the engine; check its input against the
workload; compute quality on the full evaluation set with the engine and precision that
will be timed; measure the idle baseline; measure single-stream then offline, each with
warm-up and repeats; assemble the record (its record_id is the hash of its content).

The quality pass and each warm-up and window run under a time limit (``time_limits``:
derived from the workload's scenario defaults, overridable, recorded in ``run``), and
Ctrl-C or SIGTERM stops the engine at once (``ecoscore.runners.watchdog``): a model that
never finishes ends the run with one line, and no record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecoscore.benchmarks.base import QUICK, ScenarioDefaults, Workload
from ecoscore.benchmarks.errors import WorkloadError
from ecoscore.record import BatchConsistency, DeviceRef, Quality, RunRecord, RunSettings
from ecoscore.runners.engines.base import Engine, EngineError, LoadHints
from ecoscore.runners.interference import InterferenceProbe
from ecoscore.runners.loop import ScenarioSettings, measure_idle, measure_scenario
from ecoscore.runners.meters.base import Meter
from ecoscore.runners.model_files import inspect_model
from ecoscore.runners.provenance import make_provenance, utc_now
from ecoscore.runners.record_builder import (
    claimed_assurance,
    engine_ref,
    meter_ref,
    model_ref,
    workload_ref,
)
from ecoscore.runners.watchdog import Watchdog

#: Seed of the run itself (query order is deterministic; recorded for provenance).
RUN_SEED = 0


@dataclass
class RunRequest:
    workload: Workload
    model_path: Path
    model_name: str
    model_role: str  # reference | baseline | user
    engine: Engine
    meter: Meter
    device: DeviceRef
    quick: bool = False
    repeats: int | None = None
    meter_requested: str | None = None
    meter_fallback_reason: str | None = None
    notes: str | None = None
    scenarios: tuple[str, ...] = ("single_stream", "offline")
    #: Time limits in seconds (None: derived from the workload's defaults, ``time_limits``).
    quality_time_limit_s: float | None = None
    window_time_limit_s: float | None = None


Step = Callable[[str], None]
Progress = Callable[[int, int], None]


def check_input(engine: Engine, workload: Workload, path: Path) -> None:
    """The model's input must fit the workload's input spec (rank, sizes, dtype)."""
    meta = engine.input_meta()
    shape = list(meta.shape)
    spec = workload.info.input
    if len(shape) != len(spec.shape):
        raise EngineError(
            f"{path}: the model takes a rank-{len(shape)} input {shape}; {workload.info.name} "
            f"feeds {spec.dtype} of shape {spec.shape} (None = batch)"
        )
    for got, want in zip(shape[1:], spec.shape[1:], strict=True):
        if isinstance(got, int) and want is not None and got != want:
            raise EngineError(
                f"{path}: the model's input shape {shape} does not fit {workload.info.name}'s "
                f"{spec.shape}"
            )
    if isinstance(shape[0], int) and shape[0] != 1:
        raise EngineError(
            f"{path}: the model's batch dimension is fixed at {shape[0]}; export it with a "
            "dynamic batch dimension"
        )
    if meta.dtype != spec.dtype:
        raise EngineError(f"{path}: the model takes {meta.dtype}; the workload feeds {spec.dtype}")


def load_hints(workload: Workload) -> LoadHints:
    """What an engine may know before loading: the offline batch, and calibration inputs
    from the training split (never the evaluation set)."""
    return LoadHints(
        max_batch=workload.info.scenarios.offline_batch_size,
        calibration=lambda: workload.train_split().x,
    )


def model_outputs(engine: Engine, x: np.ndarray, batch_size: int) -> np.ndarray:
    """The model's outputs for every input, run in batches of ``batch_size``."""
    return np.concatenate([engine.run(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def compute_quality(
    engine: Engine, workload: Workload, x: np.ndarray, y: np.ndarray, batch_size: int
) -> float:
    try:
        return workload.score(model_outputs(engine, x, batch_size), y)
    except WorkloadError as e:
        raise WorkloadError(f"model output rejected: {e}") from None


#: Outputs at the offline batch may differ from those at batch 1 by this much (relative to
#: the value and to the largest output magnitude): kernels chosen for a batch reorder sums,
#: which moves fp32 results by about 1e-7 and fp16/bf16 ones by about 1e-3.
BATCH_TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2, "bf16": 2e-2, "int8": 2e-2}


def batch_consistency(
    at_one: np.ndarray, batched: np.ndarray, batch_size: int, precision: str
) -> BatchConsistency:
    """Compare the outputs at batch 1 with those at the offline batch, sample by sample."""
    a = np.asarray(at_one, dtype=np.float64).reshape(len(at_one), -1)
    b = np.asarray(batched, dtype=np.float64).reshape(len(batched), -1)
    rel = BATCH_TOLERANCE.get(precision, BATCH_TOLERANCE["fp16"])
    if a.shape != b.shape:
        return BatchConsistency(
            offline_batch_size=batch_size,
            samples=len(a),
            disagreeing=len(a),
            max_abs_diff=None,
            tolerance=f"outputs of shape {a.shape} at batch 1 and {b.shape} batched",
            consistent=False,
        )
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    diff = np.abs(a - b)
    bad = ~np.all(diff <= rel * (np.abs(a) + scale) + 1e-12, axis=1)  # NaN disagrees
    largest = float(diff.max()) if diff.size else 0.0
    return BatchConsistency(
        offline_batch_size=batch_size,
        samples=len(a),
        disagreeing=int(bad.sum()),
        max_abs_diff=largest if np.isfinite(largest) else None,
        tolerance=f"|batched - batch 1| <= {rel:g} x (|batch 1| + max |batch 1|)",
        consistent=not bool(bad.any()),
    )


def evaluate_quality(
    engine: Engine, workload: Workload, x: np.ndarray, y: np.ndarray, offline_batch: int
) -> tuple[float, BatchConsistency | None]:
    """Quality at batch 1 (the graded single-stream scenario), and the outputs at the
    offline batch compared with it over the whole evaluation set: a model that answers
    differently when batched cannot be graded on one batch size and timed on another.
    The comparison costs one pass at the offline batch, less than the quality pass."""
    at_one = model_outputs(engine, x, 1)
    try:
        value = workload.score(at_one, y)
    except WorkloadError as e:
        raise WorkloadError(f"model output rejected: {e}") from None
    if offline_batch <= 1:
        return value, None
    batched = model_outputs(engine, x, offline_batch)
    return value, batch_consistency(at_one, batched, offline_batch, engine.config.precision)


def _batches(engine: Engine, x: np.ndarray, batch_size: int, max_batches: int = 64) -> list:
    """Queries cycle through the evaluation inputs; batches are prepared once, before timing."""
    n = len(x)
    count = min(max_batches, max(1, n // batch_size))
    out = []
    for b in range(count):
        idx = (np.arange(batch_size) + b * batch_size) % n
        out.append(engine.prepare(np.ascontiguousarray(x[idx])))
    return out


def scenario_settings(
    defaults: ScenarioDefaults, quick: bool, repeats: int | None
) -> dict[str, ScenarioSettings]:
    d = QUICK if quick else defaults
    reps = repeats or d.repeats
    return {
        "single_stream": ScenarioSettings(
            "single_stream",
            1,
            d.single_stream_min_duration_s,
            d.single_stream_min_queries,
            d.warmup_s,
            reps,
            quick,
        ),
        "offline": ScenarioSettings(
            "offline",
            defaults.offline_batch_size,
            d.offline_min_duration_s,
            d.offline_min_queries,
            d.warmup_s,
            reps,
            quick,
        ),
    }


#: A warm-up or window may last this many times its planned length (warm-up included)...
WINDOW_LIMIT_FACTOR = 10.0
#: ... and at least this long.
MIN_WINDOW_LIMIT_S = 60.0
#: The quality pass may last this many times the measurement it precedes...
QUALITY_LIMIT_FACTOR = 10.0
#: ... and at least this long (it runs the whole evaluation set at batch 1).
MIN_QUALITY_LIMIT_S = 300.0


@dataclass(frozen=True)
class TimeLimits:
    quality_s: float
    window_s: float


def time_limits(
    defaults: ScenarioDefaults,
    quick: bool,
    repeats: int | None,
    meter_window_s: float = 0.0,
    quality_s: float | None = None,
    window_s: float | None = None,
) -> TimeLimits:
    """The run's time limits: what was asked, else derived from the workload's scenario
    defaults (a window: ``WINDOW_LIMIT_FACTOR`` x its planned length and warm-up; the
    quality pass: ``QUALITY_LIMIT_FACTOR`` x the whole measurement), with floors."""
    d = QUICK if quick else defaults
    planned = max(d.single_stream_min_duration_s, d.offline_min_duration_s)
    if not quick:
        planned = max(planned, meter_window_s)
    window = max(MIN_WINDOW_LIMIT_S, WINDOW_LIMIT_FACTOR * (planned + d.warmup_s))
    measured = (repeats or d.repeats) * 2 * planned
    quality = max(MIN_QUALITY_LIMIT_S, QUALITY_LIMIT_FACTOR * measured)
    return TimeLimits(quality_s or quality, window_s or window)


def run_benchmark(
    req: RunRequest, step: Step | None = None, progress: Progress | None = None
) -> RunRecord:
    """Run ``req`` and return its record (not saved). Ctrl-C and SIGTERM raise
    KeyboardInterrupt; a phase over its time limit raises ``EngineTimeLimit``."""
    with Watchdog(req.engine, req.model_path) as dog:
        return _run(req, dog, step or (lambda _msg: None), progress)


def _run(req: RunRequest, dog: Watchdog, say: Step, progress: Progress | None) -> RunRecord:
    started = utc_now()
    wl = req.workload
    info = wl.info
    model = inspect_model(req.model_path)
    say("loading model")
    with dog.phase("loading the model", None):
        req.engine.load(req.model_path, load_hints(wl))
    check_input(req.engine, wl, req.model_path)
    eval_sha = wl.eval_data_sha256()
    split = wl.eval_split()
    settings = scenario_settings(info.scenarios, req.quick, req.repeats)
    limits = time_limits(
        info.scenarios,
        req.quick,
        req.repeats,
        req.meter.min_window_s(),
        req.quality_time_limit_s,
        req.window_time_limit_s,
    )

    say("quality on the evaluation set")
    offline_batch = info.scenarios.offline_batch_size if "offline" in req.scenarios else 1
    with dog.phase("the quality pass", limits.quality_s, "--quality-time-limit"):
        quality_value, consistency = evaluate_quality(
            req.engine, wl, split.x, split.y, offline_batch
        )
    eng_info = req.engine.info()

    say("idle baseline")
    d = QUICK if req.quick else info.scenarios
    idle = measure_idle(req.meter, max(d.idle_s, 0.0 if req.quick else req.meter.min_window_s()))

    device = eng_info.device
    probe = InterferenceProbe(
        int(device.partition(":")[2] or 0) if device.startswith("cuda") else None
    )
    results = []
    for name in req.scenarios:
        s = settings[name]
        say(f"{name} (batch {s.batch_size})")
        batches = _batches(req.engine, split.x, s.batch_size)
        results.append(
            measure_scenario(
                req.engine,
                req.meter,
                batches,
                s,
                idle.power_w,
                progress,
                probe,
                watchdog=dog,
                time_limit_s=limits.window_s,
            )
        )

    params = (
        model.parameter_count if model.parameter_count is not None else (req.engine.parameter_count)
    )
    record = RunRecord(
        workload=workload_ref(wl, eval_sha, len(split)),
        model=model_ref(model, req.model_name, req.model_role, params),
        engine=engine_ref(eng_info, req.engine.config.model_dump(mode="json")),
        device=req.device,
        meter=meter_ref(req.meter, req.meter_requested, req.meter_fallback_reason),
        assurance=claimed_assurance(req.meter, quality_by_caller=False),
        idle=idle,
        scenarios=results,
        quality=Quality(
            metric=info.metric,
            value=quality_value,
            gate=info.quality_gate,
            passed=quality_value >= info.quality_gate,
            samples=len(split),
            batch_size=1,
            computed_by="ecoscore",
            batch_consistency=consistency,
        ),
        run=RunSettings(
            quick=req.quick,
            repeats=settings["offline"].repeats,
            seed=RUN_SEED,
            quality_time_limit_s=limits.quality_s,
            window_time_limit_s=limits.window_s,
        ),
        provenance=make_provenance(started, {"run": RUN_SEED, "workload": info.seed}, req.notes),
    )
    return record.with_id()
