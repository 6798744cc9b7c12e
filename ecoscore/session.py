"""A session of runs: from what the user asked (workloads, model, engine and meter settings)
to one run record per workload, each saved atomically. Used by ``ecoscore run`` and by the
fleet; the measurement itself is ``ecoscore.runners``' work, the display the command's.

Engines and meters are made only from their typed configs (``EngineConfig``,
``MeterConfig``): the command line gives settings, the config validates them, the record
keeps the resolved config, and ``reproduce`` rebuilds the same engine and meter from it.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecoscore.benchmarks.base import Workload
from ecoscore.benchmarks.errors import WorkloadError
from ecoscore.record import DeviceRef, RunRecord, save_record
from ecoscore.runners.engines.base import Engine, EngineConfig
from ecoscore.runners.meters.base import Meter


@dataclass
class RunOptions:
    workloads: list[str]
    model: Path | None = None
    engine: str | None = None
    device: str = "cpu"
    meter: str = "auto"
    boundary: str | None = None
    quick: bool = False
    repeats: int | None = None
    baseline: bool = False
    data: Path | None = None
    #: A workload declared by a file (``--workload-file``), run on ``data``.
    workload_file: Path | None = None
    out: Path = Path("results")
    notes: str | None = None
    #: Engine settings given by the user (precision, threads, ...); the engine's config
    #: validates them and refuses the ones it does not have.
    engine_settings: dict[str, Any] = field(default_factory=dict)
    #: Time limits in seconds (None: derived from the workload's defaults).
    quality_time_limit_s: float | None = None
    window_time_limit_s: float | None = None
    #: ``--paired``: measure the workload's reference model beside the model, windows
    #: interleaved, and record the model factor (ecoscore.runners.paired).
    paired: bool = False


@dataclass
class ResolvedModel:
    path: Path
    name: str
    role: str
    engine: str


@dataclass
class Plan:
    """One run to make: a workload, a model file and the engine config that runs it."""

    workload: Workload
    model: ResolvedModel
    engine: EngineConfig
    #: The workload's reference model, measured beside the model (``--paired``).
    reference: ResolvedModel | None = None


def resolve_model(wl: Workload, opts: RunOptions) -> ResolvedModel:
    """The model file to run: the user's (``--model``), or the workload's reference or
    baseline model, with the engine that runs its format."""
    from ecoscore.models.registry import ModelNotFound, find_by_file, reference_model
    from ecoscore.runners.engines.registry import config_class, engine_for_format
    from ecoscore.runners.model_files import model_format

    if opts.model is not None:
        if opts.baseline:
            raise WorkloadError("--baseline runs the bundled baseline; do not give --model too")
        fmt = model_format(opts.model)
        engine = opts.engine or engine_for_format(fmt)
        ref = find_by_file(opts.model)
        name, role = (ref.name, ref.role) if ref else (opts.model.stem, "user")
        return ResolvedModel(opts.model, name, role, engine)
    if wl.data_source != "bundled":
        raise WorkloadError(f"{wl.info.name} has no bundled model: give --model PATH")
    engine = opts.engine or "onnxruntime"
    try:
        ref = reference_model(wl.info.name, "baseline" if opts.baseline else "reference")
        fmt = next((f for f in config_class(engine).formats if f in ref.files), None)
        return ResolvedModel(ref.file(fmt or "onnx"), ref.name, ref.role, engine)
    except ModelNotFound as e:
        raise WorkloadError(str(e)) from None


def plan_runs(opts: RunOptions) -> list[Plan]:
    """Check everything that can be checked before measuring: workloads, models, engine
    settings and the output folder."""
    from ecoscore.benchmarks.registry import DEFAULT_WORKLOADS, get_workload

    check_output_folder(opts.out)
    if opts.workload_file is not None:
        return [_plan(file_workload(opts), opts)]
    names = opts.workloads or list(DEFAULT_WORKLOADS)
    if opts.model is not None and len(names) != 1:
        raise WorkloadError("--model needs exactly one --workload (a model fits one workload)")
    return [_plan(get_workload(name, opts.data), opts) for name in names]


def file_workload(opts: RunOptions) -> Workload:
    """The workload of ``--workload-file`` over ``--data``."""
    from ecoscore.benchmarks.workload_file import FileWorkload

    assert opts.workload_file is not None
    if opts.workloads:
        raise WorkloadError("give --workload or --workload-file, not both")
    if opts.data is None:
        raise WorkloadError(
            f"{opts.workload_file}: a workload file runs on your data: give --data PATH"
        )
    if opts.model is None:
        raise WorkloadError(f"{opts.workload_file}: give the model to run with --model PATH")
    return FileWorkload(opts.workload_file, opts.data)


def _plan(wl: Workload, opts: RunOptions) -> Plan:
    from ecoscore.runners.engines.registry import config_class, engine_config
    from ecoscore.runners.tuning import auto_settings

    rm = resolve_model(wl, opts)
    given = auto_settings(config_class(rm.engine), opts.device, opts.engine_settings)
    config = engine_config(rm.engine, device=opts.device, **given)
    reference = paired_reference(wl, rm) if opts.paired else None
    return Plan(wl, rm, config, reference)


def paired_reference(wl: Workload, model: ResolvedModel) -> ResolvedModel:
    """The reference model a paired run measures beside ``model``: the workload's reference
    from its manifest, in a format the model's engine loads. Refused (``PairedRunError``)
    when the workload has none, or when the model is that reference."""
    from ecoscore.models.registry import ModelNotFound, reference_model
    from ecoscore.runners.engines.registry import config_class
    from ecoscore.runners.paired import PairedModel, PairedRunError, check_pair

    name = wl.info.name
    why = "--paired measures the workload's reference model beside yours"
    if wl.definition_file is not None:
        raise PairedRunError(
            f"{wl.definition_file.name}: {why}, and a workload file names no reference model"
        )
    try:
        ref = reference_model(name, "reference")
    except ModelNotFound:
        raise PairedRunError(f"{name}: {why}, and {name} ships no reference model") from None
    formats = config_class(model.engine).formats
    fmt = next((f for f in formats if f in ref.files and ref.files[f].is_file()), None)
    if fmt is None:
        raise PairedRunError(
            f"{name}: {why}, and its reference model {ref.name} has no file the "
            f"{model.engine} engine loads (it has: {', '.join(ref.files) or 'none'})"
        )
    path = ref.file(fmt)
    check_pair(model.path, PairedModel(path, ref.name))
    return ResolvedModel(path, ref.name, "reference", model.engine)


def check_output_folder(out: Path) -> None:
    """Refuse an output folder that cannot hold records before anything is measured."""
    from ecoscore.record import RecordWriteError

    runs = Path(out) / "runs"
    for p in (Path(out), runs):
        if p.exists() and not p.is_dir():
            raise RecordWriteError(f"{p}: exists and is not a folder; records go in {runs}/")
    probe = next((p for p in (runs, Path(out), *Path(out).resolve().parents) if p.exists()), None)
    if probe is not None and not os.access(probe, os.W_OK | os.X_OK):
        raise RecordWriteError(f"{probe}: not writable; records go in {runs}/")


@dataclass
class OpenMeter:
    meter: Meter
    requested: str
    fallback_reason: str | None


def open_meter(spec: str, device: str, boundary: str | None = None) -> OpenMeter:
    from ecoscore.runners.meters.registry import make_meter

    meter, reason = make_meter(spec, device, boundary=boundary)
    return OpenMeter(meter, spec, reason)


def describe(device: str) -> DeviceRef:
    from ecoscore.runners.host import describe_device

    return describe_device(device)


def execute(
    plan: Plan,
    meter: OpenMeter,
    device: DeviceRef,
    opts: RunOptions,
    step: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_engine: Callable[[Engine], None] | None = None,
) -> tuple[RunRecord, Path]:
    """Build the engine, run the plan, save the record; return it and its path."""
    from ecoscore.runners.benchmark import RunRequest, run_benchmark
    from ecoscore.runners.paired import PairedModel

    ref = plan.reference
    req = RunRequest(
        workload=plan.workload,
        model_path=plan.model.path,
        model_name=plan.model.name,
        model_role=plan.model.role,
        engine_config=plan.engine,
        meter=meter.meter,
        device=device,
        quick=opts.quick,
        repeats=opts.repeats,
        meter_requested=meter.requested,
        meter_fallback_reason=meter.fallback_reason,
        notes=opts.notes,
        quality_time_limit_s=opts.quality_time_limit_s,
        window_time_limit_s=opts.window_time_limit_s,
        paired=PairedModel(ref.path, ref.name) if ref is not None else None,
    )
    record = run_benchmark(req, step, progress, on_engine)
    return record, save_record(record, opts.out)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops a run like Ctrl-C does: no record is written for the run in progress."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    if sys.platform == "win32":
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    # a mask inherited from the parent (exec keeps it) would hold a stop signal pending for
    # ever: the run could not be stopped. Unblocked for the run, restored after.
    stops = {signal.SIGINT, signal.SIGTERM}
    masked = signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, masked)
        signal.signal(signal.SIGTERM, previous)
