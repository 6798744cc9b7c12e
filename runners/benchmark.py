"""One benchmark run, from workload and model file to a validated run record.

Order of a run: check the model file; load it in the engine; decide how the model meets
the workload (runners/model_interface.py: output, layout, quantized input, fixed batch)
and convert the evaluation inputs once; compute quality on the full evaluation set with
the engine and precision that will be timed; measure the idle baseline; measure
single-stream then offline, each with warm-up and repeats; measure the engine's
empty-call floor (runners/empty_call.py); assemble the record (its record_id is the hash
of its content).

The quality pass and each warm-up and window run under a time limit (``time_limits``:
derived from the workload's scenario defaults, overridable, recorded in ``run``), and
Ctrl-C or SIGTERM stops the engine at once (``ecoscore.runners.watchdog``): a model that
never finishes ends the run with one line, and no record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecoscore.benchmarks.base import QUICK, ScenarioDefaults, Workload, WorkloadInfo
from ecoscore.benchmarks.errors import WorkloadError
from ecoscore.benchmarks.metrics import passes_gate
from ecoscore.errors import EcoscoreError
from ecoscore.record import (
    BatchConsistency,
    DeviceRef,
    IdleBaseline,
    IdleLevels,
    Quality,
    RunRecord,
    RunSettings,
)
from ecoscore.runners.empty_call import measure_empty_calls
from ecoscore.runners.engines.base import Engine, EngineConfig, EngineError, LoadHints
from ecoscore.runners.interference import InterferenceProbe, other_gpu_processes
from ecoscore.runners.loop import (
    IdleModel,
    RawScenario,
    ScenarioSettings,
    measure_device_idle,
    measure_idle_at,
    measure_windows,
)
from ecoscore.runners.meters.base import Meter
from ecoscore.runners.model_files import inspect_model
from ecoscore.runners.model_interface import ModelBinding, resolve
from ecoscore.runners.provenance import make_provenance, utc_now
from ecoscore.runners.record_builder import (
    claimed_assurance,
    engine_ref,
    meter_ref,
    model_ref,
    workload_ref,
)
from ecoscore.runners.tuning import ROUNDS as TUNING_ROUNDS
from ecoscore.runners.tuning import Tuner, fixed_tuning, search_space, tuning_budget_s
from ecoscore.runners.watchdog import Watchdog

if TYPE_CHECKING:
    from ecoscore.runners.paired import Pair, PairedModel

#: Seed of the run itself (query order is deterministic; recorded for provenance).
RUN_SEED = 0


@dataclass
class RunRequest:
    workload: Workload
    model_path: Path
    model_name: str
    model_role: str  # reference | baseline | user
    engine_config: EngineConfig
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
    #: Per scenario, tunable engine settings to run with as given (``reproduce`` passes a
    #: record's chosen settings); other scenarios follow ``engine_config``.
    scenario_engine: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``--paired``: the workload's reference model, measured beside the model
    #: (runners/paired.py); None for an unpaired run.
    paired: PairedModel | None = None


Step = Callable[[str], None]
Progress = Callable[[int, int], None]


def load_hints(workload: Workload) -> LoadHints:
    """What an engine may know before loading: the offline batch, and calibration inputs
    from the training split (never the evaluation set)."""
    return LoadHints(
        max_batch=workload.info.scenarios.offline_batch_size,
        calibration=lambda: workload.train_split().x,
    )


def model_outputs(
    engine: Engine, x: np.ndarray, batch_size: int, interface: ModelBinding | None = None
) -> np.ndarray:
    """The model's outputs for every input (already adapted to the model), run in batches
    of ``batch_size``, read as the workload's convention says (``interface``). A failure of
    the engine's library on a batch is one line naming the batch's shape."""
    outs = []
    for i in range(0, len(x), batch_size):
        batch = x[i : i + batch_size]
        try:
            outs.append(engine.run(batch))
        except EcoscoreError:
            raise
        except Exception as e:  # the engine's library raises its own types
            raise EngineError(
                f"the model fails on a batch of {len(batch)} input(s) of shape "
                f"{tuple(batch.shape)}: {' '.join(str(e).split())[:300]}; a model must take any "
                "batch size: export it with a dynamic batch dimension (README, 'Build a model "
                "for a workload')"
            ) from None
    if interface is not None:
        outs = [interface.adapt_output(o) for o in outs]
    return np.concatenate(outs)


def compute_quality(
    engine: Engine,
    workload: Workload,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    interface: ModelBinding | None = None,
) -> float:
    """Quality of the engine's outputs on ``x`` (already adapted to the model)."""
    try:
        return workload.score(model_outputs(engine, x, batch_size, interface), y)
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


def quality_section(
    info: WorkloadInfo, value: float, samples: int, consistency: BatchConsistency | None
) -> Quality:
    """The record's quality: computed by ecoscore at batch 1 (the graded scenario's batch)
    on ``samples`` evaluation samples, judged against the installed gate."""
    return Quality(
        metric=info.metric,
        value=value,
        gate=info.quality_gate,
        passed=passes_gate(info.metric, value, info.quality_gate),
        samples=samples,
        batch_size=1,
        computed_by="ecoscore",
        batch_consistency=consistency,
    )


def evaluate_quality(
    engine: Engine,
    workload: Workload,
    x: np.ndarray,
    y: np.ndarray,
    offline_batch: int,
    interface: ModelBinding | None = None,
) -> tuple[float, BatchConsistency | None]:
    """Quality at batch 1 (the graded single-stream scenario), and the outputs at the
    offline batch compared with it over the whole evaluation set: a model that answers
    differently when batched cannot be graded on one batch size and timed on another.
    The comparison costs one pass at the offline batch, less than the quality pass."""
    at_one = model_outputs(engine, x, 1, interface)
    try:
        value = workload.score(at_one, y)
    except WorkloadError as e:
        raise WorkloadError(f"model output rejected: {e}") from None
    if offline_batch <= 1:
        return value, None
    batched = model_outputs(engine, x, offline_batch, interface)
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


def device_idle(req: RunRequest) -> IdleBaseline:
    """The device's idle before the engine touches it. On a GPU the other compute
    processes NVML lists are recorded (this process has no context yet)."""
    d = QUICK if req.quick else req.workload.info.scenarios
    span = d.idle_s if req.quick else max(d.device_idle_span_s, req.meter.min_window_s())
    limit = span * 2 if req.quick else max(d.device_idle_max_s, 2 * span)
    details: dict[str, object] = {}
    device = req.engine_config.device
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        details["other_gpu_processes"] = other_gpu_processes(index)
    return measure_device_idle(req.meter, span, limit, details)


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
    req: RunRequest,
    step: Step | None = None,
    progress: Progress | None = None,
    on_engine: Callable[[Engine], None] | None = None,
) -> RunRecord:
    """Measure the device idle, build and load the engine, compute the quality, measure
    the ready idle, every scenario's windows, the ready idle again, and assemble the record
    (not saved). Ctrl-C and SIGTERM raise KeyboardInterrupt; a phase over its time limit
    raises ``EngineTimeLimit``."""
    say = step or (lambda _msg: None)
    started = utc_now()
    wl = req.workload
    info = wl.info
    model = inspect_model(req.model_path)
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
    d = QUICK if req.quick else info.scenarios
    idle_s = max(d.idle_s, 0.0 if req.quick else req.meter.min_window_s())

    say("device idle (before the engine touches the device)")
    device = device_idle(req)
    engine = req.engine_config.build()
    pair: Pair | None = None
    if on_engine is not None:
        on_engine(engine)
    try:
        with Watchdog(engine, req.model_path) as dog:
            say("loading model")
            with dog.phase("loading the model", None):
                engine.load(req.model_path, load_hints(wl))
            config = engine.config
            iface = resolve(engine, wl, req.model_path, config.layout, config.output)
            x = iface.adapt_input(split.x)  # once, before anything is timed
            batch = iface.batch_size(info.scenarios.offline_batch_size)
            batch_note = None
            if batch != settings["offline"].batch_size:
                batch_note = (
                    f"the model is exported with a fixed batch of {batch}: offline ran at "
                    f"batch {batch} instead of {settings['offline'].batch_size}"
                )
                settings["offline"] = replace(settings["offline"], batch_size=batch)

            say("quality on the evaluation set")
            offline_batch = batch if "offline" in req.scenarios else 1
            with dog.phase("the quality pass", limits.quality_s, "--quality-time-limit"):
                quality_value, consistency = evaluate_quality(
                    engine, wl, x, split.y, offline_batch, iface
                )
            eng_info = engine.info()
            eng_info = replace(
                eng_info, settings={**eng_info.settings, "model_interface": iface.describe()}
            )

            if req.paired is not None:  # the reference beside the model: runners/paired.py
                from ecoscore.runners.paired import open_pair

                pair = open_pair(req, split, dog, limits.quality_s, say)
            say("ready idle (model loaded)")
            before = measure_idle_at(req.meter, idle_s)
            where = eng_info.device
            probe = InterferenceProbe(
                int(where.partition(":")[2] or 0) if where.startswith("cuda") else None
            )
            config_doc = engine.config.model_dump(mode="json")  # as loaded (quality pass)
            raws = []
            chosen: dict[str, dict[str, object]] = {}
            for name in req.scenarios:
                s = settings[name]
                say(f"{name} (batch {s.batch_size})")
                batches = _batches(engine, x, s.batch_size)
                chosen[name] = _scenario_settings(req, engine, batches, s, dog, limits.window_s)
                measure = pair.measure_windows if pair is not None else measure_windows
                raws.append(
                    measure(engine, req.meter, batches, s, progress, probe, dog, limits.window_s)
                )
            say("ready idle (after the windows)")
            after = measure_idle_at(req.meter, idle_s)
            say("empty-call floor (a do-nothing model through the same engine)")
            floors = {}
            with dog.phase("the empty-call floor", limits.window_s, "--window-time-limit"):
                for name in req.scenarios:  # each at the settings its scenario ran with
                    ran = chosen[name].get("engine_config")
                    cfg = type(engine.config).model_validate(ran) if ran else engine.config
                    floors.update(
                        measure_empty_calls(
                            cfg,
                            model.format,
                            x,
                            {name: settings[name].batch_size},
                            req.quick,
                            req.meter,
                        )
                    )
        params = (
            model.parameter_count if model.parameter_count is not None else (engine.parameter_count)
        )
    finally:
        if pair is not None:
            pair.close()
        engine.close()

    idle = IdleModel(
        ready_before=before.baseline.power_w,
        t_before=before.t_mid,
        ready_after=after.baseline.power_w if after.baseline.valid else None,
        t_after=after.t_mid,
        device=device.power_w if device.valid else None,
    )
    drift = after.baseline.power_w - before.baseline.power_w
    scenarios = [
        raw.result(
            idle,
            incremental_resolution_j=_resolution(raw, before.baseline.power_w),
            batch_note=batch_note if raw.settings.name == "offline" else None,
            **chosen[raw.settings.name],
            empty_call=floors.get(raw.settings.name),
        )
        for raw in raws
    ]
    record = RunRecord(
        workload=workload_ref(wl, eval_sha, len(split)),
        model=model_ref(model, req.model_name, req.model_role, params),
        engine=engine_ref(eng_info, config_doc),
        device=req.device,
        meter=meter_ref(req.meter, req.meter_requested, req.meter_fallback_reason),
        assurance=claimed_assurance(req.meter, quality_by_caller=False),
        idle=before.baseline,
        idle_levels=IdleLevels(
            device=device,
            ready=before.baseline,
            ready_after=after.baseline.model_copy(
                update={
                    "details": {"drift_w": drift, "seconds_after_ready": after.t_mid - before.t_mid}
                }
            ),
        ),
        scenarios=scenarios,
        quality=quality_section(info, quality_value, len(split), consistency),
        run=RunSettings(
            quick=req.quick,
            repeats=settings["offline"].repeats,
            seed=RUN_SEED,
            quality_time_limit_s=limits.quality_s,
            window_time_limit_s=limits.window_s,
        ),
        provenance=make_provenance(started, {"run": RUN_SEED, "workload": info.seed}, req.notes),
        paired=(
            pair.section(idle, scenarios, lambda raw: _resolution(raw, before.baseline.power_w))
            if pair is not None
            else None
        ),
    )
    return record.with_id()


def _scenario_settings(
    req: RunRequest,
    engine: Engine,
    batches: list,
    s: ScenarioSettings,
    dog: Watchdog | None,
    limit_s: float | None,
) -> dict[str, object]:
    """Put the engine at this scenario's settings: the fixed ones ``req.scenario_engine``
    gives (reproduce), else the best of the ``"auto"`` candidates tried now
    (``runners.tuning``), else the config's. Returns the scenario's ``engine_config`` and
    ``tuning`` for the record."""
    fixed = req.scenario_engine.get(s.name)
    if fixed is not None:
        if any(getattr(engine.config, k) != v for k, v in fixed.items()):
            engine.apply_settings(**fixed)
        tuning = fixed_tuning(engine, req.engine_config.model_copy(update=fixed))
    elif search_space(req.engine_config):
        tuner = Tuner(
            engine,
            req.engine_config,
            req.meter,
            tuning_budget_s(s.warmup_s),
            rounds=1 if s.quick else TUNING_ROUNDS,
        )
        phase = (
            dog.phase(f"the {s.name} tuning", limit_s, "--window-time-limit")
            if dog is not None
            else contextlib.nullcontext()
        )
        with phase:
            tuning = tuner.run(batches, s.batch_size, s.name)
    else:
        tuning = fixed_tuning(engine, req.engine_config)
    if tuning is None:
        return {}
    return {"engine_config": engine.config.model_dump(mode="json"), "tuning": tuning}


def _resolution(raw: RawScenario, ready_w: float) -> float | None:
    """Energy of one sensor update at the ready idle power, per inference of a window."""
    if raw.sensor_period_s is None or not raw.windows:
        return None
    inferences = float(np.median([w.queries * w.batch for w in raw.windows]))
    return ready_w * raw.sensor_period_s / inferences
