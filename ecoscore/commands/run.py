"""``ecoscore run``: measure models on workloads and write one run record per run. The
summary ends with each record's provisional grade (graded here, before anyone verified it)
and the command that gives the full score.

The progress display is redrawn only when the run reports a step or a finished window
(``auto_refresh=False``): no display thread takes CPU time or the interpreter lock from the
engine during a measured window."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ecoscore.commands.common import add_command, say, warn
from ecoscore.errors import UsageError

if TYPE_CHECKING:
    from ecoscore.record import RunRecord


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` engine settings; values are read as JSON when they parse (numbers,
    true/false, null), else kept as text."""
    import json

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--setting {pair!r}: expected KEY=VALUE (e.g. spinning=false)")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def parse_threads(text: str) -> int | str:
    """``--threads``: ``auto`` (``runners.tuning``) or a count of at least 1."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"--threads {text!r}: give a thread count of at least 1, or auto")
    return value


def run(
    workload: Annotated[
        list[str] | None,
        typer.Option("--workload", "-w", help="Workload name (repeatable). Default: all bundled."),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="Your .onnx or .pt2 model (default: the reference)."),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(help="onnxruntime, torch or tensorrt (default: from the model's format)."),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, or cuda / cuda:N.")] = "cpu",
    meter: Annotated[
        str,
        typer.Option(
            help="auto, rapl[:DOMAINS], nvml[:N], jetson, rpi, pyjoules, joulescope, csv:PATH, "
            "estimate, or a sum of sensors such as nvml+rapl (boundary gpu+cpu-package)."
        ),
    ] = "auto",
    boundary: Annotated[
        str | None,
        typer.Option(help="Where an external instrument (csv, joulescope) is wired, e.g. wall."),
    ] = None,
    quick: Annotated[bool, typer.Option(help="Short smoke run, marked as such.")] = False,
    repeats: Annotated[int | None, typer.Option(min=1, help="Windows per scenario.")] = None,
    baseline: Annotated[
        bool, typer.Option(help="Run the workload's non-neural baseline model instead.")
    ] = False,
    paired: Annotated[
        bool,
        typer.Option(
            help="Also measure the workload's reference model, windows interleaved, and "
            "record the model factor E_model / E_reference (the model grade)."
        ),
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option(help="Data set folder/file for a user-data workload or a workload file."),
    ] = None,
    workload_file: Annotated[
        Path | None,
        typer.Option(help="A workload declared in TOML (see `ecoscore workload check`)."),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(help="fp32, fp16 or bf16 (torch on CUDA); fp16/int8 for tensorrt."),
    ] = None,
    threads: Annotated[
        str | None,
        typer.Option(
            help="CPU threads for the engine: a count, or auto (the default on the CPU: the "
            "simple settings are tried during each scenario's warm-up and the best kept; "
            "docs/measuring.md).",
        ),
    ] = None,
    spinning: Annotated[
        bool | None,
        typer.Option(
            "--spinning/--no-spinning",
            help="onnxruntime: let idle threads spin (default: chosen with --threads auto).",
        ),
    ] = None,
    channels_last: Annotated[bool, typer.Option(help="torch CUDA: channels-last inputs.")] = False,
    compile: Annotated[bool, typer.Option(help="torch CUDA: torch.compile the model.")] = False,
    cuda_graph: Annotated[
        bool | None,
        typer.Option(
            "--cuda-graph/--no-cuda-graph",
            help="torch CUDA: replay a CUDA graph at batch 1 (default: on, on CUDA).",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            help="The model output to read, by name (needed when several could be it).",
        ),
    ] = None,
    layout: Annotated[
        str | None,
        typer.Option(
            help="NCHW or NHWC: your model's image input layout (default: from its shape)."
        ),
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--setting",
            "-s",
            help="Any engine setting as KEY=VALUE (repeatable), e.g. spinning=false.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Results folder.")] = Path("results"),
    notes: Annotated[str | None, typer.Option(help="Free text stored in the record.")] = None,
    quality_time_limit: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Seconds the quality pass may take (default: from the workload's defaults).",
        ),
    ] = None,
    window_time_limit: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Seconds a warm-up or a window may take (default: from the workload's defaults).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Run workloads with the measurement loop and write run records to OUT/runs/."""
    from ecoscore.session import RunOptions

    settings = parse_settings(list(setting or []))
    given = {
        "precision": precision,
        "threads": parse_threads(threads) if threads is not None else None,
        "spinning": spinning,
        "channels_last": channels_last or None,
        "compile": compile or None,
        "cuda_graph": cuda_graph,
        "output": output,
        "layout": layout.upper() if layout else None,
    }
    settings.update({k: v for k, v in given.items() if v is not None})
    opts = RunOptions(
        workloads=list(workload or []),
        model=model,
        engine=engine,
        device=device,
        meter=meter,
        boundary=boundary,
        quick=quick,
        repeats=repeats,
        baseline=baseline,
        data=data,
        workload_file=workload_file,
        out=out,
        notes=notes,
        engine_settings=settings,
        quality_time_limit_s=quality_time_limit,
        window_time_limit_s=window_time_limit,
        paired=paired,
    )
    run_session(opts)


def run_session(opts: Any) -> list[Path]:
    """Plan, open the meter, run each workload with a progress display, print a summary."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ecoscore.session import describe, execute, open_meter, plan_runs, sigterm_interrupts

    console = Console(stderr=True)
    plans = plan_runs(opts)
    with sigterm_interrupts():
        m = open_meter(opts.meter, opts.device, opts.boundary)
        if m.fallback_reason:
            warn(f"meter: {m.fallback_reason}")
        info = m.meter.info
        console.print(
            f"meter: [bold]{info.name}[/] ({info.measurement.value}) at boundary "
            f"[bold]{info.boundary}[/], source: {info.source}",
            highlight=False,
        )
        device = describe(opts.device)
        done: list[tuple[RunRecord, Path]] = []
        m.meter.start()
        try:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                auto_refresh=False,  # no redraw thread competing with the engine in a window
            ) as bar:
                for plan in plans:
                    name = plan.workload.info.name
                    task = bar.add_task(f"{name}: starting", total=None)

                    def step(msg: str, task: int = task, name: str = name) -> None:
                        bar.update(task, description=f"{name}: {msg}", completed=0, total=None)
                        bar.refresh()

                    def progress(n: int, total: int, task: int = task) -> None:
                        bar.update(task, completed=n, total=total)
                        bar.refresh()

                    def on_engine(engine: Any) -> None:
                        if engine.fallback_reason:
                            warn(f"engine: {engine.fallback_reason}")

                    done.append(execute(plan, m, device, opts, step, progress, on_engine))
                    bar.remove_task(task)
        finally:
            m.meter.close()
    print_summary(done)
    return [path for _, path in done]


def _fmt_energy(j: float | None) -> str:
    return "invalid" if j is None else f"{j * 1e3:.4g} mJ"


def print_summary(records: list[tuple[RunRecord, Path]]) -> None:
    from rich.console import Console
    from rich.markup import escape as markup
    from rich.table import Table

    from ecoscore.grading.grade import grade_record
    from ecoscore.grading.scale import load_scale

    scale = load_scale()
    grades = [grade_record(rec, scale) for rec, _ in records]
    from ecoscore.reports.safe_text import terminal

    def escape(text: str) -> str:
        return markup(terminal(text))

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
        "grade",
    ):
        table.add_column(col)
    for (rec, _), grade in zip(records, grades, strict=True):
        ss, off = rec.scenario("single_stream"), rec.scenario("offline")
        q = rec.quality
        mark = "" if q.passed else " [red]below gate[/]"
        lat = f"{ss.latency.p50_ms:.3f} / {ss.latency.p90_ms:.3f}" if ss and ss.latency else "-"
        e_ss = ss.energy_per_inference_j.median if ss and ss.energy_per_inference_j else None
        e_off = off.energy_per_inference_j.median if off and off.energy_per_inference_j else None
        thr = f"{off.throughput_per_s.median:,.0f}" if off else "-"
        kind = rec.meter.measurement + (" (quick)" if rec.run.quick else "")
        table.add_row(
            escape(rec.workload.name),
            escape(rec.model.name),
            escape(f"{rec.engine.name} {rec.engine.precision}"),
            f"{q.metric} {q.value:.4f} ({q.gate:g}){mark}",
            lat,
            _fmt_energy(e_ss),
            _fmt_energy(e_off),
            thr,
            kind,
            grade.mark,
        )
    out.print(table)
    if records and records[0][0].meter.measurement == "ESTIMATED":
        out.print(
            "[yellow]Energy is ESTIMATED (no energy sensor was read): "
            f"{escape(records[0][0].meter.source)}. It cannot certify a grade.[/]"
        )
    from ecoscore.checks import interference_seen

    for rec, _ in records:
        for seen in interference_seen(rec):
            out.print(
                f"[yellow]{escape(rec.workload.name)} interference: {escape(seen)} "
                "(not certifiable: measure again on a quiet machine)[/]"
            )
    for (_, path), grade in zip(records, grades, strict=True):
        say(f"record: {path}")
        say(f"  provisional grade: {provisional_text(grade)}")
        if grade.model_grade is not None:
            say(f"  model grade: {grade.model_grade.summary}")
    if records:
        paths = " ".join(shlex.quote(str(path)) for _, path in records)
        say(f"full score, class probabilities and indicators: ecoscore score {paths}")


def provisional_text(grade: Any) -> str:
    """``B (scale 2026.1; not yet verified; not certifiable: quick run)``: the grade this
    machine gives the record now. It is provisional: nobody has verified the record yet,
    and an ESTIMATED energy keeps it provisional for good."""
    if grade.letter is None:
        return f"none ({grade.reason})"
    why = ["not yet verified"]
    rules = list(grade.failed_rules)
    if grade.provisional:
        why.append("energy ESTIMATED: never certifiable")
        rules = [r for r in rules if r != "assurance-derived"]  # that is the estimate
    if rules:
        why.append(f"not certifiable: {', '.join(rules)}")
    return (
        f"{grade.mark} {grade.probabilities_text} (scale {grade.scale_version}; {'; '.join(why)})"
    )


def register(app: typer.Typer) -> None:
    add_command(app, "run", run)
