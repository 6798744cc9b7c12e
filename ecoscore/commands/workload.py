"""``ecoscore workload check FILE [--data DIR]``: validate a workload file (one line per
problem, naming the key) and say what a model must take and give;
``ecoscore workload example NAME DIR``: write an example task (workload file, models, data).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecoscore.commands.common import reports_errors


def check(
    file: Annotated[Path, typer.Argument(help="The workload file (.toml).")],
    data: Annotated[
        Path | None,
        typer.Option(help="Also read this data set, preprocess it and check it against the file."),
    ] = None,
) -> None:
    """Validate a workload file; print every problem, or what a model must take and give."""
    from ecoscore.benchmarks.interface import contract, describe_lines
    from ecoscore.benchmarks.workload_file import (
        FileWorkload,
        WorkloadFileError,
        info_of,
        interface_of,
        parse_workload_file,
    )

    wf, problems = parse_workload_file(file)
    for p in problems:
        typer.echo(f"{file}: {p}")
    if problems or wf is None:
        raise WorkloadFileError(f"{file}: {len(problems)} problem(s); the file is not usable")
    if data is None:
        doc = contract(info_of(wf), interface_of(wf), "--data PATH")
        for line in describe_lines(doc):
            typer.echo(line)
        typer.echo(f"{file}: valid (data not read: give --data DIR to check it too)")
        return
    wl = FileWorkload(file, data)
    train, evaluation = wl.train_split(), wl.eval_split()
    doc = contract(wl.info, wl.interface(), str(data))
    for line in describe_lines(doc):
        typer.echo(line)
    typer.echo(f"  data: {wl.raw.description}")
    typer.echo(
        f"  training x {train.x.dtype} {tuple(train.x.shape)}, evaluation x "
        f"{evaluation.x.dtype} {tuple(evaluation.x.shape)}"
    )
    pinned = "pinned by the file" if wl.info.eval_sha256 else "not pinned by the file"
    typer.echo(f"  evaluation data sha256 {wl.eval_data_sha256()} ({pinned})")
    typer.echo(f"  data sha256 {wl.raw.data_sha256}; file sha256 {wl.file_sha256}")
    typer.echo(f"{file}: valid, and {data} fits it")


def example(
    name: Annotated[str, typer.Argument(help="The example's name: defect-scratch.")],
    out: Annotated[Path, typer.Argument(help="Folder to write it in.")],
) -> None:
    """Write an example task: its workload file, models and generated data."""
    from ecoscore.benchmarks.examples import write_example

    for path in write_example(name, out):
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        no_args_is_help=True,
        add_completion=False,
        help="Workload files: check one; write an example.",
    )
    group.command("check")(reports_errors(check))
    group.command("example")(reports_errors(example))
    app.add_typer(group, name="workload")
