"""One benchmark run, from workload and model file to a validated run record.

Order of a run: check the model file; load it in the engine; check its input against the
workload; compute quality on the full evaluation set with the engine and precision that
will be timed; measure the idle baseline; measure single-stream then offline, each with
warm-up and repeats; assemble the record (its record_id is the hash of its content).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ecoscore.benchmarks.base import QUICK, ScenarioDefaults, Workload, WorkloadError
from ecoscore.runners.engines.base import Engine, EngineError
from ecoscore.runners.interference import InterferenceProbe
from ecoscore.runners.loop import ScenarioSettings, measure_idle, measure_scenario
from ecoscore.runners.meters.base import Meter, MeterInfo
from ecoscore.runners.model_files import describe_model
from ecoscore.runners.provenance import make_provenance, utc_now

from ecoscore.record import (
    DeviceRef,
    EngineRef,
    MeterRef,
    ModelRef,
    Quality,
    RunRecord,
    RunSettings,
    WorkloadRef,
)

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
    meter_fallback_reason: str | None = None
    notes: str | None = None
    scenarios: tuple[str, ...] = ("single_stream", "offline")
    extra_engine_settings: dict[str, object] = field(default_factory=dict)


Step = Callable[[str], None]
Progress = Callable[[int, int], None]


def check_input(engine: Engine, workload: Workload, path: Path) -> None:
    """The model's input must fit the workload's input spec (rank, sizes, dtype)."""
    meta = getattr(engine, "input_meta", None)
    if meta is None:
        return
    _, shape, type_name = meta()
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
    want_type = {"float32": "tensor(float)", "int64": "tensor(int64)"}[spec.dtype]
    if type_name != want_type:
        raise EngineError(f"{path}: the model takes {type_name}; the workload feeds {want_type}")


def compute_quality(
    engine: Engine, workload: Workload, x: np.ndarray, y: np.ndarray, batch_size: int
) -> float:
    outs = [engine.run(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
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


def workload_ref(wl: Workload, eval_sha256: str, eval_samples: int) -> WorkloadRef:
    info = wl.info
    return WorkloadRef(
        name=info.name,
        version=info.version,
        family=info.family,
        task=info.task,
        definition_sha256=info.definition_sha256(),
        eval_data_sha256=eval_sha256,
        eval_samples=eval_samples,
        metric=info.metric,
        quality_gate=info.quality_gate,
        data_source=wl.data_source,
    )


def model_ref(desc: dict[str, object], name: str, role: str, params: object) -> ModelRef:
    """The record's model section from ``describe_model``'s description of the file."""
    return ModelRef(
        name=name,
        file_name=str(desc["file_name"]),
        format=desc["format"],  # type: ignore[arg-type]
        sha256=str(desc["sha256"]),
        size_bytes=int(desc["size_bytes"]),  # type: ignore[call-overload]
        parameter_count=params,  # type: ignore[arg-type]
        role=role,  # type: ignore[arg-type]
    )


def meter_ref(m: MeterInfo, fallback_reason: str | None) -> MeterRef:
    return MeterRef(
        name=m.name,
        source=m.source,
        boundary=m.boundary,
        measurement=m.measurement.value,  # type: ignore[arg-type]
        sampling_period_s=m.sampling_period_s,
        uncertainty_rel=m.uncertainty_rel,
        details=dict(m.details),
        fallback_reason=fallback_reason,
    )


def run_benchmark(
    req: RunRequest, step: Step | None = None, progress: Progress | None = None
) -> RunRecord:
    say = step or (lambda _msg: None)
    started = utc_now()
    wl = req.workload
    info = wl.info
    model_desc = describe_model(req.model_path)
    say("loading model")
    req.engine.load(req.model_path)
    check_input(req.engine, wl, req.model_path)
    eval_sha = wl.eval_data_sha256()
    split = wl.eval_split()
    settings = scenario_settings(info.scenarios, req.quick, req.repeats)

    say("quality on the evaluation set")
    quality_value = compute_quality(
        req.engine, wl, split.x, split.y, info.scenarios.offline_batch_size
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
            measure_scenario(req.engine, req.meter, batches, s, idle.power_w, progress, probe)
        )

    params = model_desc["parameter_count"]
    if params is None:
        params = getattr(req.engine, "parameter_count", None)
    record = RunRecord(
        workload=workload_ref(wl, eval_sha, len(split)),
        model=model_ref(model_desc, req.model_name, req.model_role, params),
        engine=EngineRef(
            name=eng_info.name,
            version=eng_info.version,
            device=eng_info.device,
            precision=eng_info.precision,
            settings={**eng_info.settings, **req.extra_engine_settings},
        ),
        device=req.device,
        meter=meter_ref(req.meter.info, req.meter_fallback_reason),
        idle=idle,
        scenarios=results,
        quality=Quality(
            metric=info.metric,
            value=quality_value,
            gate=info.quality_gate,
            passed=quality_value >= info.quality_gate,
            samples=len(split),
            batch_size=info.scenarios.offline_batch_size,
        ),
        run=RunSettings(quick=req.quick, repeats=settings["offline"].repeats, seed=RUN_SEED),
        provenance=make_provenance(started, {"run": RUN_SEED, "workload": info.seed}, req.notes),
    )
    return record.with_id()
