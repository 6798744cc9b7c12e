"""``ecoscore reproduce``: re-run a record's workload, model, engine and meter on this
machine, compare within tolerances and write a replication record.

The engine and the meter are rebuilt from the configs the record stores, under the rules
of a config read from a record (thread counts capped to this machine, unknown engines and
meters refused, no file a record names opened); ``--meter`` and ``--device`` override
them. ``--quick`` makes a first look in seconds: a quick run with wide tolerances, whose
record says so and never counts as a replication for a jury."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecoscore.commands.common import add_command, say, warn
from ecoscore.errors import EXIT_NOT_REPLICATED, EXIT_OK


def reproduce(
    record: Annotated[Path, typer.Argument(help="The run record to replicate.")],
    model: Annotated[
        Path | None,
        typer.Option(help="The model file (its sha256 must match the record's)."),
    ] = None,
    meter: Annotated[
        str | None, typer.Option(help="Meter spec (default: the recorded meter's config).")
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="Device (default: the recorded engine's device).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Results folder.")] = Path("results"),
    quick: Annotated[
        bool,
        typer.Option(
            help="A first look: a quick run with wide tolerances; never counts as a "
            "replication (compare and policies ignore it)."
        ),
    ] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Replicate a run here; print the comparison and write a replication record."""
    from ecoscore.jury.replicate import (
        QUICK_NOTE,
        ReplicationError,
        engine_config,
        find_model_file,
        meter_config,
        replicate,
    )
    from ecoscore.record import load_record, save_record
    from ecoscore.runners.host import describe_device
    from ecoscore.runners.meters.registry import make_meter, open_meter
    from ecoscore.session import check_output_folder

    original = load_record(record)
    if original.record_type != "run":
        raise ReplicationError(f"{record}: is itself a replication; replicate the original")
    check_output_folder(out)
    notes: list[str] = []
    config = engine_config(original, device, notes)  # checked against this machine
    mc = meter_config(original) if meter is None else None  # before anything is opened
    model_path = find_model_file(original, model)
    for note in notes:
        warn(note)
    if mc is None:
        m, fallback = make_meter(str(meter), config.device)
        requested = str(meter)
    else:
        m, fallback = open_meter(mc)
        requested = f"{mc.meter} (from the record)"
    if fallback:
        warn(f"meter: {fallback}")
    scenario_notes: list[str] = []
    m.start()
    try:
        new, report = replicate(
            original,
            model_path,
            config,
            m,
            describe_device(config.device),
            requested,
            quick=quick,
            notes=scenario_notes,
        )
    finally:
        m.close()
    for note in scenario_notes:
        warn(note)
    path = save_record(new, out)
    for line in report.lines():
        say(line)
    if not report.same_hardware:
        say(
            f"note: the original ran on {original.device.name!r}, this machine is "
            f"{new.device.name!r}: only loose tolerances apply"
        )
    if quick and not original.run.quick:
        say(f"note: {QUICK_NOTE}; run `ecoscore reproduce {record}` for one that counts")
    say(f"replication record: {path}")
    raise typer.Exit(EXIT_OK if report.replicated else EXIT_NOT_REPLICATED)


def register(app: typer.Typer) -> None:
    add_command(app, "reproduce", reproduce)
