"""``ecoscore run``: measure models on workloads and write one run record per run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecoscore.errors import fail


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
        typer.Option(help="onnxruntime or torch (default: from the model file's format)."),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, or cuda / cuda:N.")] = "cpu",
    meter: Annotated[
        str,
        typer.Option(
            help="auto, rapl, nvml[:N], jetson, rpi, pyjoules, joulescope, csv:PATH, estimate."
        ),
    ] = "auto",
    quick: Annotated[bool, typer.Option(help="Short smoke run, marked as such.")] = False,
    repeats: Annotated[int | None, typer.Option(min=1, help="Windows per scenario.")] = None,
    baseline: Annotated[
        bool, typer.Option(help="Run the workload's non-neural baseline model instead.")
    ] = False,
    data: Annotated[
        Path | None, typer.Option(help="Data set folder/file for a user-data workload.")
    ] = None,
    precision: Annotated[
        str, typer.Option(help="fp32, fp16 or bf16 (torch on CUDA); fp16/int8 for tensorrt.")
    ] = "fp32",
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads for the engine (default: all cores).")
    ] = None,
    channels_last: Annotated[bool, typer.Option(help="torch CUDA: channels-last inputs.")] = False,
    compile: Annotated[bool, typer.Option(help="torch CUDA: torch.compile the model.")] = False,
    cuda_graph: Annotated[
        bool, typer.Option(help="torch CUDA: replay a CUDA graph at batch 1.")
    ] = False,
    out: Annotated[Path, typer.Option(help="Results folder.")] = Path("results"),
    notes: Annotated[str | None, typer.Option(help="Free text stored in the record.")] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Run workloads with the measurement loop and write run records to OUT/runs/."""
    from ecoscore.session import RunOptions, run_many

    opts = RunOptions(
        workloads=list(workload or []),
        model=model,
        engine=engine,
        device=device,
        meter=meter,
        quick=quick,
        repeats=repeats,
        baseline=baseline,
        data=data,
        out=out,
        notes=notes,
        precision=precision,
        threads=threads,
        channels_last=channels_last,
        compile=compile,
        cuda_graph=cuda_graph,
    )
    try:
        run_many(opts)
    except (Exception, KeyboardInterrupt) as e:  # one line for the user; --debug: traceback
        fail(e, debug)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
