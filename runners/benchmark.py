"""One benchmark run, from workload and model file to a validated run record.

Order of a run: check the model file; load it in the engine; decide how the model meets
the workload (runners/model_interface.py: output, layout, quantized input, fixed batch)
and convert the evaluation inputs once; compute quality on the full evaluation set with
the engine and precision that will be timed; measure the idle baseline; measure
single-stream then offline, each with warm-up and repeats; assemble the record (its
record_id is the hash of its content).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ecoscore.benchmarks.base import QUICK, ScenarioDefaults, Workload
from ecoscore.benchmarks.errors import WorkloadError
from ecoscore.record import DeviceRef, Quality, RunRecord, RunSettings
from ecoscore.runners.engines.base import Engine, LoadHints
from ecoscore.runners.interference import InterferenceProbe
from ecoscore.runners.loop import ScenarioSettings, measure_idle, measure_scenario
from ecoscore.runners.meters.base import Meter
from ecoscore.runners.model_files import inspect_model
from ecoscore.runners.model_interface import ModelInterface, resolve
from ecoscore.runners.provenance import make_provenance, utc_now
from ecoscore.runners.record_builder import engine_ref, meter_ref, model_ref, workload_ref

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


Step = Callable[[str], None]
Progress = Callable[[int, int], None]


def load_hints(workload: Workload) -> LoadHints:
    """What an engine may know before loading: the offline batch, and calibration inputs
    from the training split (never the evaluation set)."""
    return LoadHints(
        max_batch=workload.info.scenarios.offline_batch_size,
        calibration=lambda: workload.train_split().x,
    )


def compute_quality(
    engine: Engine,
    workload: Workload,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    interface: ModelInterface | None = None,
) -> float:
    """Quality of the engine's outputs on ``x`` (already adapted to the model)."""
    outs = [engine.run(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    if interface is not None:
        outs = [interface.adapt_output(o) for o in outs]
    try:
        return workload.score(np.concatenate(outs), y)
    except WorkloadError as e:
        raise WorkloadError(f"model output rejected: {e}") from None


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


def run_benchmark(
    req: RunRequest, step: Step | None = None, progress: Progress | None = None
) -> RunRecord:
    say = step or (lambda _msg: None)
    started = utc_now()
    wl = req.workload
    info = wl.info
    model = inspect_model(req.model_path)
    say("loading model")
    req.engine.load(req.model_path, load_hints(wl))
    config = req.engine.config
    iface = resolve(req.engine, wl, req.model_path, config.layout, config.output)
    eval_sha = wl.eval_data_sha256()
    split = wl.eval_split()
    x = iface.adapt_input(split.x)  # once, before anything is timed
    settings = scenario_settings(info.scenarios, req.quick, req.repeats)
    batch = iface.batch_size(info.scenarios.offline_batch_size)
    batch_note = None
    if batch != settings["offline"].batch_size:
        batch_note = (
            f"the model is exported with a fixed batch of {batch}: offline ran at batch "
            f"{batch} instead of {settings['offline'].batch_size}"
        )
        settings["offline"] = replace(settings["offline"], batch_size=batch)

    say("quality on the evaluation set")
    quality_value = compute_quality(req.engine, wl, x, split.y, batch, iface)
    eng_info = req.engine.info()
    eng_info = replace(
        eng_info, settings={**eng_info.settings, "model_interface": iface.describe()}
    )

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
        batches = _batches(req.engine, x, s.batch_size)
        result = measure_scenario(req.engine, req.meter, batches, s, idle.power_w, progress, probe)
        if name == "offline" and batch_note:
            result = result.model_copy(update={"batch_note": batch_note})
        results.append(result)

    params = (
        model.parameter_count if model.parameter_count is not None else (req.engine.parameter_count)
    )
    record = RunRecord(
        workload=workload_ref(wl, eval_sha, len(split)),
        model=model_ref(model, req.model_name, req.model_role, params),
        engine=engine_ref(eng_info, req.engine.config.model_dump(mode="json")),
        device=req.device,
        meter=meter_ref(req.meter, req.meter_requested, req.meter_fallback_reason),
        idle=idle,
        scenarios=results,
        quality=Quality(
            metric=info.metric,
            value=quality_value,
            gate=info.quality_gate,
            passed=quality_value >= info.quality_gate,
            samples=len(split),
            batch_size=batch,
        ),
        run=RunSettings(quick=req.quick, repeats=settings["offline"].repeats, seed=RUN_SEED),
        provenance=make_provenance(started, {"run": RUN_SEED, "workload": info.seed}, req.notes),
    )
    return record.with_id()
