"""``ecoscore label RECORD --out label.svg [--out label.png]``: draw the eco-score label. Its
signer is checked against ``--trusted-keys`` when given (else the signature is only checked
to verify), and the label says so."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecoscore.commands.common import (
    LocationOption,
    ScaleFileOption,
    ScaleOption,
    add_command,
    say,
    scale_from,
)


def label(
    record: Annotated[Path, typer.Argument(help="Run record JSON file.")],
    out: Annotated[list[Path], typer.Option(help="Label file, .svg or .png; repeat for both.")],
    scale: ScaleOption = None,
    scale_file: ScaleFileOption = None,
    location: LocationOption = "FRA",
    dpi: Annotated[
        int, typer.Option(min=50, max=600, help="PNG resolution (100 = 300x400 px).")
    ] = 200,
    trusted_keys: Annotated[
        Path | None,
        typer.Option(help="Trusted-keys TOML: the label names a trusted signer."),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Grade a record and draw its label (one drawing, saved as SVG and/or PNG)."""
    from ecoscore.files import check_output_path
    from ecoscore.grading.grade import grade_record
    from ecoscore.grading.indicators import compute_indicators
    from ecoscore.jury.signing import check_signature
    from ecoscore.jury.trust import load_trusted_keys
    from ecoscore.record import load_record
    from ecoscore.reports.label import FORMATS, LabelError, draw_label, save_label, signer_text

    bad = [p for p in out if p.suffix.lower() not in FORMATS]
    if bad:
        raise LabelError(f"{bad[0]}: the label is written as .svg or .png")
    for p in out:
        check_output_path(p, "label")  # before any work
    the_scale = scale_from(scale, scale_file)
    rec = load_record(record)
    grade = grade_record(rec, the_scale)
    indicators = compute_indicators(rec, location=location)
    trusted = load_trusted_keys(trusted_keys) if trusted_keys is not None else None
    signer = signer_text(check_signature(rec, trusted))
    fig = draw_label(rec, grade, indicators, the_scale.for_workload(rec.workload.name), signer)
    written = [save_label(fig, p, png_dpi=dpi) for p in out]
    for p in written:
        say(f"{p}  ({grade.summary})")


def register(app: typer.Typer) -> None:
    add_command(app, "label", label)
