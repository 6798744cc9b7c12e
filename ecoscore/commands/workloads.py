"""``ecoscore workloads``: the bundled workloads with version, metric and gate."""

from __future__ import annotations

import typer

from ecoscore.commands.common import add_command


def workloads() -> None:
    """List the bundled workloads (and those that read a data set you have on disk)."""
    from rich.console import Console
    from rich.table import Table

    from ecoscore.benchmarks.registry import workload_class, workload_names

    table = Table(title="ecoscore workloads")
    for col in ("workload", "version", "task", "metric", "gate", "input", "data"):
        table.add_column(col)
    bundled = set(workload_names())
    for name in workload_names(user_data=True):
        info = getattr(workload_class(name), "info", None)
        if info is None:  # defined by the data it reads (e.g. the classes of a CSV)
            table.add_row(name, "", "", "", "", "", "--data PATH")
            continue
        layout = f" {info.input.layout}" if info.input.layout else ""
        table.add_row(
            info.name,
            info.version,
            info.task,
            info.metric,
            f"{info.quality_gate:g}",
            f"{info.input.dtype} {info.input.shape}{layout}",
            "bundled" if name in bundled else "--data PATH",
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    add_command(app, "workloads", workloads)
