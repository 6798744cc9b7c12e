"""A session of ``ecoscore run``: resolve workloads, models, engine and meter; run each;
save each record atomically; print a summary. The measurement itself is runners' work."""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ecoscore.benchmarks.base import Workload, WorkloadError
from ecoscore.record import RunRecord, save_record

console = Console(stderr=True)


@dataclass
class RunOptions:
    workloads: list[str]
    model: Path | None = None
    engine: str | None = None
    device: str = "cpu"
    meter: str = "auto"
    quick: bool = False
    repeats: int | None = None
    baseline: bool = False
    data: Path | None = None
    out: Path = Path("results")
    notes: str | None = None
    precision: str = "fp32"
    threads: int | None = None
    channels_last: bool = False
    compile: bool = False
    cuda_graph: bool = False

    def engine_options(self, engine: str) -> dict[str, object]:
        """The options that apply to ``engine`` on this device; others are refused."""
        cuda = self.device.startswith("cuda")
        opts: dict[str, object] = {}
        gpu_flags = {
            "channels_last": self.channels_last,
            "compile": self.compile,
            "cuda_graph": self.cuda_graph,
        }
        if engine == "torch" and cuda:
            opts.update(precision=self.precision, **gpu_flags)
        elif engine == "tensorrt":
            opts["precision"] = self.precision
        elif self.precision != "fp32":
            raise WorkloadError(
                f"--precision {self.precision} is not available for {engine} "
                f"on {self.device} (fp32 only)"
            )
        if any(gpu_flags.values()) and not (engine == "torch" and cuda):
            raise WorkloadError(
                "--channels-last, --compile and --cuda-graph apply to torch on CUDA only"
            )
        if self.threads:
            if engine == "onnxruntime":
                opts["intra_op_threads"] = self.threads
            elif engine == "torch":
                opts["threads"] = self.threads
        return opts


@dataclass
class ResolvedModel:
    path: Path
    name: str
    role: str
    engine: str


def resolve_model(wl: Workload, opts: RunOptions) -> ResolvedModel:
    from ecoscore.models.registry import ModelNotFound, find_by_file, reference_model
    from ecoscore.runners.engines.registry import engine_for_format
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
    fmt = {"onnxruntime": "onnx", "torch": "pt2"}.get(engine, "onnx")
    try:
        ref = reference_model(wl.info.name, "baseline" if opts.baseline else "reference")
        return ResolvedModel(ref.file(fmt), ref.name, ref.role, engine)
    except ModelNotFound as e:
        raise WorkloadError(str(e)) from None


def _install_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    if sys.platform != "win32":
        signal.signal(signal.SIGTERM, handler)


def run_many(opts: RunOptions) -> list[Path]:
    from ecoscore.benchmarks.registry import DEFAULT_WORKLOADS, get_workload
    from ecoscore.runners.benchmark import RunRequest, run_benchmark
    from ecoscore.runners.device import describe_device
    from ecoscore.runners.engines.registry import make_engine
    from ecoscore.runners.meters.registry import make_meter

    _install_sigterm()
    names = opts.workloads or list(DEFAULT_WORKLOADS)
    if opts.model is not None and len(names) != 1:
        raise WorkloadError("--model needs exactly one --workload (a model fits one workload)")
    workloads = [get_workload(n, opts.data) for n in names]
    plans = [(wl, resolve_model(wl, opts)) for wl in workloads]

    meter, fallback = make_meter(opts.meter, opts.device)
    if fallback:
        console.print(f"[yellow]meter:[/] {fallback}")
    m = meter.info
    console.print(
        f"meter: [bold]{m.name}[/] ({m.measurement.value}) at boundary [bold]{m.boundary}[/], "
        f"source: {m.source}"
    )
    device = describe_device(opts.device, _gpu_details(opts.device))
    paths: list[Path] = []
    records: list[tuple[RunRecord, Path]] = []
    meter.start()
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            for wl, rm in plans:
                engine = make_engine(rm.engine, opts.device, **_options_for(wl, rm, opts))
                reason = getattr(engine, "fallback_reason", None)
                if reason:
                    console.print(f"[yellow]engine:[/] {reason}")
                task = bar.add_task(f"{wl.info.name}: starting", total=None)

                def step(msg: str, task: int = task, wl: Workload = wl) -> None:
                    bar.update(task, description=f"{wl.info.name}: {msg}", completed=0, total=None)

                def progress(done: int, total: int, task: int = task) -> None:
                    bar.update(task, completed=done, total=total)

                req = RunRequest(
                    workload=wl,
                    model_path=rm.path,
                    model_name=rm.name,
                    model_role=rm.role,
                    engine=engine,
                    meter=meter,
                    device=device,
                    quick=opts.quick,
                    repeats=opts.repeats,
                    meter_fallback_reason=fallback,
                    notes=opts.notes,
                )
                try:
                    record = run_benchmark(req, step, progress)
                finally:
                    engine.close()
                path = save_record(record, opts.out)
                records.append((record, path))
                paths.append(path)
                bar.remove_task(task)
    finally:
        meter.close()
    print_summary(records)
    return paths


def _options_for(wl: Workload, rm: ResolvedModel, opts: RunOptions) -> dict[str, object]:
    """Engine options; TensorRT also needs the batch range and, for int8, calibration data
    from the training split (never the evaluation set)."""
    options = opts.engine_options(rm.engine)
    if rm.engine == "tensorrt":
        options["max_batch"] = wl.info.scenarios.offline_batch_size
        if opts.precision == "int8":
            options["calibration_data"] = wl.train_split().x[:512]
    return options


def _gpu_details(device: str) -> dict[str, object]:
    if not device.startswith("cuda"):
        return {}
    from ecoscore.runners.gpu_info import describe_nvidia_gpu

    return describe_nvidia_gpu(int(device.partition(":")[2] or 0))


def _fmt_energy(j: float | None) -> str:
    if j is None:
        return "invalid"
    return f"{j * 1e3:.4g} mJ"


def print_summary(records: list[tuple[RunRecord, Path]]) -> None:
    out = Console() if sys.stdout.isatty() else Console(width=160)
    table = Table(title="ecoscore run summary")
    for col in (
        "workload",
        "model",
        "engine",
        "quality (gate)",
        "p50 / p90 ms",
        "energy/inf single",
        "energy/inf offline",
        "offline inf/s",
        "energy",
    ):
        table.add_column(col)
    for rec, _ in records:
        ss, off = rec.scenario("single_stream"), rec.scenario("offline")
        q = rec.quality
        mark = "" if q.passed else " [red]below gate[/]"
        lat = f"{ss.latency.p50_ms:.3f} / {ss.latency.p90_ms:.3f}" if ss and ss.latency else "-"
        e_ss = ss.energy_per_inference_j.median if ss and ss.energy_per_inference_j else None
        e_off = off.energy_per_inference_j.median if off and off.energy_per_inference_j else None
        thr = f"{off.throughput_per_s.median:,.0f}" if off else "-"
        kind = rec.meter.measurement + (" (quick)" if rec.run.quick else "")
        table.add_row(
            rec.workload.name,
            rec.model.name,
            rec.engine.name,
            f"{q.metric} {q.value:.4f} ({q.gate:g}){mark}",
            lat,
            _fmt_energy(e_ss),
            _fmt_energy(e_off),
            thr,
            kind,
        )
    out.print(table)
    if records and records[0][0].meter.measurement == "ESTIMATED":
        out.print(
            "[yellow]Energy is ESTIMATED (no energy sensor was read): "
            f"{records[0][0].meter.source}. It cannot certify a grade.[/]"
        )
    for rec, _ in records:
        for s in rec.scenarios:
            flagged = {w.details.get("interference") for w in s.windows} - {None}
            if flagged:
                out.print(
                    f"[yellow]{rec.workload.name} {s.name}: interference flagged: "
                    f"{'; '.join(sorted(map(str, flagged)))}[/]"
                )
    for _, path in records:
        print(f"record: {path}")
