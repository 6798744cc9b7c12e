"""``ecoscore workloads``: the workloads and what a model for each must take and give;
``ecoscore workloads export-train NAME DIR``: a workload's training split, and only it.

The table never shortens a workload's name, on a terminal or in a pipe; ``--json`` gives,
per workload, the input's name, shape, dtype and layout, the preprocessing, the classes,
the output, the metric and the gate (``ecoscore.benchmarks.interface``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ecoscore.commands.common import reports_errors

#: Width of the table when standard output is not a terminal (a pipe, a file).
PIPE_WIDTH = 200


def _docs() -> list[dict[str, Any]]:
    from ecoscore.benchmarks.interface import describe, describe_class
    from ecoscore.benchmarks.registry import (
        get_workload,
        needs_data,
        workload_class,
        workload_names,
    )

    docs = []
    for name in workload_names(user_data=True):
        if needs_data(name):
            docs.append(describe_class(workload_class(name), name, "--data PATH"))
        else:
            docs.append(describe(get_workload(name)))
    return docs


def _gate(doc: dict[str, Any]) -> str:
    gate = doc.get("gate")
    return f"{gate['direction']} {gate['value']:g}" if gate else ""


def _input(doc: dict[str, Any]) -> str:
    i = doc.get("input", {})
    if "shape" not in i:
        return i.get("layout", "")
    shape = "(" + ", ".join(str(d) for d in i["shape"]) + ")"
    return f"{i['name']}: {i['dtype']} {shape}"


def list_workloads(
    ctx: typer.Context,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Per workload: input name, shape, dtype, layout, preprocessing, classes, "
            "output, metric and gate.",
        ),
    ] = False,
) -> None:
    """List the workloads and what a model for each must take and give."""
    if ctx.invoked_subcommand is not None:
        return
    docs = _docs()
    if json_out:
        typer.echo(json.dumps({"workloads": docs}, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    names = [d["name"] for d in docs]
    table = Table(title="ecoscore workloads")
    table.add_column("workload", no_wrap=True, min_width=max(map(len, names)))
    for col in ("version", "task", "input", "metric", "gate", "data"):
        table.add_column(col)
    for d in docs:
        table.add_row(
            escape(d["name"]),
            d.get("version", ""),
            d.get("task", ""),
            escape(_input(d)),
            d.get("metric", {}).get("name", ""),
            _gate(d),
            escape(d["data"]),
        )
    console = Console() if sys.stdout.isatty() else Console(width=PIPE_WIDTH)
    console.print(table)
    console.print(
        "Details (layout, preprocessing, classes, output): ecoscore workloads --json; "
        "training split: ecoscore workloads export-train NAME DIR",
        highlight=False,
    )


def export_train(
    name: Annotated[str, typer.Argument(help="A workload's name, or a workload file (.toml).")],
    out: Annotated[Path, typer.Argument(help="Folder to write train.npz, train.json, README.txt.")],
    data: Annotated[
        Path | None,
        typer.Option(help="The data set, for a workload file or a user-data workload."),
    ] = None,
) -> None:
    """Write a workload's training split (never its evaluation split) as train.npz."""
    from ecoscore.benchmarks.interface import export_train as export
    from ecoscore.benchmarks.registry import get_workload
    from ecoscore.benchmarks.workload_file import FileWorkload, looks_like_workload_file
    from ecoscore.errors import UsageError

    if looks_like_workload_file(name):
        if data is None:
            raise UsageError(f"{name}: a workload file reads your data: give --data PATH")
        wl = FileWorkload(Path(name), data)
    else:
        wl = get_workload(name, data)
    for path in export(wl, out):
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        invoke_without_command=True,
        no_args_is_help=False,
        add_completion=False,
        help="List the workloads; export one's training split.",
    )
    group.callback()(reports_errors(list_workloads))
    group.command("export-train")(reports_errors(export_train))
    app.add_typer(group, name="workloads")
