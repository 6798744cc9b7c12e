"""``ecoscore bundle``: records, their labels and an environment description in one zip with
a manifest of SHA-256 per member (``ecoscore verify`` and ``compare`` read it back)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecoscore.commands.common import add_command, say


def bundle(
    records: Annotated[list[Path], typer.Argument(help="Record files to pack.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The archive to write (.zip).")],
    applicant: Annotated[str | None, typer.Option(help="Who submits (free text).")] = None,
    category: Annotated[
        str | None, typer.Option(help="Applicant category a jury policy knows, e.g. sme.")
    ] = None,
    scale: Annotated[str | None, typer.Option(help="Scale version for the labels.")] = None,
    labels: Annotated[bool, typer.Option(help="Include an SVG label per record.")] = True,
    key: Annotated[
        Path | None,
        typer.Option(
            help="Your private key (ecoscore keys): signs the manifest, so that the "
            "applicant and category are bound to you."
        ),
    ] = None,
    workload_file: Annotated[
        list[Path] | None,
        typer.Option(help="The workload file records were run from (repeatable)."),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Pack records (checked first), labels and the environment into a submission bundle."""
    from ecoscore.errors import UsageError
    from ecoscore.files import check_output_path
    from ecoscore.jury.bundle import write_bundle

    if out.suffix.lower() != ".zip":
        raise UsageError(f"{out}: a bundle is a .zip file")
    check_output_path(out, "bundle")  # before any work
    if category is not None:
        from ecoscore.jury.bundle import BundleError, check_category

        try:
            check_category(category)
        except BundleError as e:
            raise UsageError(f"--category: {e}") from None
    drawer = None
    if labels:
        from ecoscore.reports.label import label_svg

        def drawer(rec):  # noqa: ANN001, ANN202
            return label_svg(rec, scale)

    private = None
    if key is not None:
        from ecoscore.jury.signing import load_private_key

        private = load_private_key(key)
    path = write_bundle(
        records, out, applicant, category, drawer, private, list(workload_file or [])
    )
    signed = " (manifest signed)" if private is not None else " (manifest not signed)"
    say(f"wrote {path}: {len(records)} record(s){signed}")


def register(app: typer.Typer) -> None:
    add_command(app, "bundle", bundle)
