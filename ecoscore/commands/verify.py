"""``ecoscore verify``: check records and bundles (ecoscore.jury.verify), one line per
record, and an exit code a script can use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecoscore.commands.common import add_command, say


def verify(
    records: Annotated[
        list[Path] | None,
        typer.Argument(help="Record files, folders of records, or bundles (.zip)."),
    ] = None,
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
    rules: Annotated[bool, typer.Option("--rules", help="List the rules and exit.")] = False,
) -> None:
    """Check records: schema, integrity (record_id), signature, the rules of what a record
    may claim (docs/trust.md), the installed workload's quality gate, and the workload file
    a record was run from."""
    from ecoscore.benchmarks.workload_file import definitions_of
    from ecoscore.checks import RULES
    from ecoscore.errors import InputError, UsageError
    from ecoscore.jury.compare import iter_entries
    from ecoscore.jury.trust import load_trusted_keys
    from ecoscore.jury.verify import exit_code, verify_entry
    from ecoscore.jury.workload_files import WorkloadFiles, verify_workload_file

    if rules:
        for rule in RULES:
            print(f"{rule.name} ({rule.severity}): {rule.description}")
        return
    if not records:
        raise UsageError("give record files, folders of records or bundles (or --rules)")

    trusted = load_trusted_keys(trusted_keys) if trusted_keys is not None else None
    required = require_signature if require_signature is not None else trusted is not None
    results = []
    files = WorkloadFiles(workload_file)
    given = definitions_of(p.read_bytes() for p in workload_file or [])
    for entry in iter_entries(records):
        result = verify_entry(entry, trusted, required, given)
        result = verify_workload_file(result, entry, files)
        say(result.line())
        results.append(result)
    if not results:
        raise InputError(
            f"no record found in {', '.join(map(str, records))} (records are *.json files, "
            "bundles are .zip files, in any case)"
        )
    passed = sum(r.ok for r in results)
    certifiable = sum(r.certifiable for r in results)
    say(f"{passed} of {len(results)} record(s) pass; {certifiable} certifiable")
    raise typer.Exit(exit_code(results))


def register(app: typer.Typer) -> None:
    add_command(app, "verify", verify)
