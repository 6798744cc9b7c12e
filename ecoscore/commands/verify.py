"""``ecoscore verify``: check records and bundles (ecoscore.jury.verify), one line per
record, and an exit code a script can use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecoscore.commands.common import add_command


def verify(
    records: Annotated[
        list[Path], typer.Argument(help="Record files, folders of records, or bundles (.zip).")
    ],
    trusted_keys: Annotated[
        Path | None,
        typer.Option(help="Trusted-keys TOML ([[keys]] name, public_key_b64)."),
    ] = None,
    workload_file: Annotated[
        list[Path] | None,
        typer.Option(help="Workload file(s) to check records run from a file against."),
    ] = None,
    require_signature: Annotated[
        bool | None,
        typer.Option(
            "--require-signature/--allow-unsigned",
            help="Default: required when --trusted-keys is given.",
        ),
    ] = None,
) -> None:
    """Check records: schema, integrity, signature, quality gate, and their workload file."""
    from ecoscore.jury.compare import iter_entries
    from ecoscore.jury.trust import load_trusted_keys
    from ecoscore.jury.verify import exit_code, verify_entry
    from ecoscore.jury.workload_files import WorkloadFiles, verify_workload_file

    trusted = load_trusted_keys(trusted_keys) if trusted_keys is not None else None
    required = require_signature if require_signature is not None else trusted is not None
    results = []
    files = WorkloadFiles(workload_file)
    for entry in iter_entries(records):
        result = verify_workload_file(verify_entry(entry, trusted, required), entry, files)
        print(result.line(), flush=True)
        results.append(result)
    passed = sum(r.ok for r in results)
    print(f"{passed} of {len(results)} record(s) pass")
    raise typer.Exit(exit_code(results))


def register(app: typer.Typer) -> None:
    add_command(app, "verify", verify)
