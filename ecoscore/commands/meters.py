"""``ecoscore meters``: which energy sensors this machine offers, and what --meter auto picks."""

from __future__ import annotations

from typing import Annotated

import typer

from ecoscore.commands.common import add_command


def meters(
    device: Annotated[str, typer.Option(help="cpu, or cuda / cuda:N.")] = "cpu",
) -> None:
    """List the meters, whether each can be read here, and the automatic choice."""
    from rich.console import Console
    from rich.table import Table

    from ecoscore.runners.meters.registry import available_meters, make_meter

    table = Table(title="ecoscore meters")
    for col in ("meter", "available", "kind", "what"):
        table.add_column(col)
    for m in available_meters():
        table.add_row(m.spec, "yes" if m.available else "no", m.measurement, m.description)
    console = Console()
    console.print(table)
    meter, reason = make_meter("auto", device)
    info = meter.info
    console.print(
        f"--meter auto on {device}: {info.name} ({info.measurement.value}) at boundary "
        f"{info.boundary}; {info.source}"
    )
    if reason:
        console.print(f"fallback: {reason}")


def register(app: typer.Typer) -> None:
    add_command(app, "meters", meters)
