"""``ecoscore bundle``: records, their labels and an environment description in one zip with
a manifest of SHA-256 per member (``ecoscore verify`` and ``compare`` read it back)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecoscore.errors import fail


def bundle(
    records: Annotated[list[Path], typer.Argument(help="Record files to pack.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The archive to write (.zip).")],
    applicant: Annotated[str | None, typer.Option(help="Who submits (free text).")] = None,
    category: Annotated[
        str | None, typer.Option(help="Applicant category a jury policy knows, e.g. sme.")
    ] = None,
    scale: Annotated[str | None, typer.Option(help="Scale version for the labels.")] = None,
    labels: Annotated[bool, typer.Option(help="Include an SVG label per record.")] = True,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Pack records (checked first), labels and the environment into a submission bundle."""
    from ecoscore.errors import EXIT_INPUT
    from ecoscore.jury.bundle import BundleError, write_bundle

    if out.suffix.lower() != ".zip":
        print(f"ecoscore: error: {out}: a bundle is a .zip file")
        raise typer.Exit(EXIT_INPUT)
    try:
        path = write_bundle(records, out, applicant, category, scale, labels)
    except BundleError as e:
        print(f"ecoscore: error: {e}")
        raise typer.Exit(EXIT_INPUT) from None
    except Exception as e:  # noqa: BLE001 - one line for the user, traceback with --debug
        fail(e, debug)
    print(f"wrote {path}: {len(records)} record(s)")


def register(app: typer.Typer) -> None:
    app.command("bundle")(bundle)
