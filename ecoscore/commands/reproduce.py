"""``ecoscore reproduce``: re-run a record's workload, model and engine on this machine,
compare within tolerances and write a replication record."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecoscore.errors import EXIT_INPUT, EXIT_NOT_REPLICATED, EXIT_OK, fail

#: The replication disagrees with the original beyond the tolerances.


def meter_spec_for(record_meter_name: str, measurement: str) -> str:
    """The --meter spec that asks for the recorded meter again."""
    if measurement == "ESTIMATED" or record_meter_name.startswith("codecarbon"):
        return "estimate"
    return record_meter_name


def reproduce(
    record: Annotated[Path, typer.Argument(help="The run record to replicate.")],
    model: Annotated[
        Path | None,
        typer.Option(help="The model file (its sha256 must match the record's)."),
    ] = None,
    meter: Annotated[
        str | None, typer.Option(help="Meter spec (default: the recorded meter again).")
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="Device (default: the recorded engine's device).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Results folder.")] = Path("results"),
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Replicate a run here; print the comparison and write a replication record."""
    from ecoscore.jury.replicate import ReplicationError, engine_options, find_model_file, replicate
    from ecoscore.record import load_record, save_record
    from ecoscore.runners.device import describe_device
    from ecoscore.runners.engines.registry import make_engine
    from ecoscore.runners.meters.registry import make_meter

    try:
        original = load_record(record)
        if original.record_type != "run":
            raise ReplicationError(f"{record}: is itself a replication; replicate the original")
        model_path = find_model_file(original, model)
        dev = device or original.engine.device
        spec = meter or meter_spec_for(original.meter.name, original.meter.measurement)
        m, fallback = make_meter(spec, dev)
        if fallback:
            print(f"meter: {fallback}")
        engine = make_engine(original.engine.name, dev, **engine_options(original))
        device_ref = describe_device(dev, getattr(m, "device_details", lambda: {})())
        m.start()
        try:
            new, report = replicate(original, model_path, engine, m, device_ref)
        finally:
            engine.close()
            m.close()
        path = save_record(new, out)
    except ReplicationError as e:
        print(f"ecoscore: error: {e}")
        raise typer.Exit(EXIT_INPUT) from None
    except Exception as e:  # noqa: BLE001 - one line for the user, traceback with --debug
        fail(e, debug)
    for line in report.lines():
        print(line)
    if not report.same_hardware:
        print(
            f"note: the original ran on {original.device.name!r}, this machine is "
            f"{new.device.name!r}: only loose tolerances apply"
        )
    print(f"replication record: {path}")
    raise typer.Exit(EXIT_OK if report.replicated else EXIT_NOT_REPLICATED)


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce)
