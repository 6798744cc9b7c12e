"""``ecoscore scale derive RECORDS... --rule quantiles|reference --out FILE``: a call's own
scale from its reference runs or its first cohort (``ecoscore.grading.call_scale``); the
file lists every record id it came from. ``score``, ``label`` and ``compare`` grade with it
through ``--scale-file FILE``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from ecoscore.commands.common import reports_errors


def _levels(text: str) -> tuple[float, float, float, float]:
    from ecoscore.errors import UsageError

    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--quantiles {text!r}: four numbers, e.g. 0.1,0.3,0.6,0.85") from None
    if len(values) != 4:
        raise UsageError(f"--quantiles {text!r}: four levels (upper bounds of A, B, C, D)")
    return values  # type: ignore[return-value]


def derive(
    records: Annotated[
        list[Path], typer.Argument(help="Record files, folders of records, or bundles (.zip).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The scale file to write (.toml).")],
    rule: Annotated[
        str,
        typer.Option(help="quantiles (the call's first cohort) or reference (its reference runs)."),
    ] = "quantiles",
    version: Annotated[
        str | None,
        typer.Option(help="The scale's version, e.g. call-2027.1 (default: OUT's name + .1)."),
    ] = None,
    quantiles: Annotated[
        str, typer.Option(help="quantiles rule: upper bounds of A, B, C and D.")
    ] = "0.1,0.3,0.6,0.85",
    classes_per_decade: Annotated[
        int, typer.Option(min=1, help="reference rule: classes per decade of energy.")
    ] = 2,
    allow_estimated: Annotated[
        bool,
        typer.Option(help="Admit ESTIMATED records; the scale then says it is built on estimates."),
    ] = False,
    allow_quick: Annotated[
        bool, typer.Option(help="Admit quick (smoke) runs; the scale then says so.")
    ] = False,
) -> None:
    """Derive a call's scale from records and write it (every record id used is listed)."""
    from ecoscore.errors import InputError, UsageError
    from ecoscore.files import write_atomic
    from ecoscore.grading.call_scale import derive_scale_toml
    from ecoscore.jury.compare import iter_entries

    if out.suffix.lower() != ".toml":
        raise UsageError(f"{out}: a scale is a .toml file")
    if version is None:
        version = f"{out.stem}.1"
        if not re.match(r"^(?:[a-z][a-z0-9-]{0,40}-)?\d{4}\.\d{1,3}$", version):
            raise UsageError(
                f"--version: {out.name} does not give a version (e.g. call-2027.toml gives "
                "call-2027.1); give --version"
            )
    loaded = []
    for entry in iter_entries(records):
        if entry.record is None or entry.integrity_failed:
            raise InputError(f"{entry.source}: {entry.error}")
        loaded.append(entry.record)
    text, scale = derive_scale_toml(
        loaded,
        rule,
        version,
        allow_estimated=allow_estimated,
        allow_quick=allow_quick,
        quantile_levels=_levels(quantiles),
        classes_per_decade=classes_per_decade,
    )
    write_atomic(out, text.encode())
    typer.echo(f"wrote {out}: scale {scale.summary}")
    for name, ws in sorted(scale.workloads.items()):
        bounds = ", ".join(
            f"{c} <= {b:.3g} J" for c, b in zip("ABCD", ws.upper_bounds_j, strict=True)
        )
        typer.echo(f"  {name}: {bounds}; from {len(ws.basis)} record(s)")
    if scale.built_on_estimates:
        typer.echo("  built on ESTIMATED energy: grades on this scale cannot be certified")


def register(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True, add_completion=False, help="Call scales.")
    group.command("derive")(reports_errors(derive))
    app.add_typer(group, name="scale")
