"""``ecoscore verify``: schema, integrity, signature and eligibility of records and bundles,
one line per record, and an exit code a script can use.

Exit codes: 0 every record passes; 5 (EXIT_INTEGRITY) a record fails its integrity or
signature check; 3 (EXIT_INPUT) a file cannot be read or is not a valid record or bundle;
7 (EXIT_NOT_ELIGIBLE) a record is below its workload's quality gate. The most serious
applies, in that order: 5, 3, 7.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ecoscore.errors import EXIT_INPUT, EXIT_INTEGRITY, EXIT_NOT_ELIGIBLE, EXIT_OK

if TYPE_CHECKING:
    from ecoscore.jury.compare import Entry
    from ecoscore.jury.trust import TrustedKeys

#: A record is below its workload's quality gate (not eligible for a grade).


@dataclass(frozen=True)
class VerifyResult:
    source: str
    ok: bool
    code: int  # exit code this result asks for
    message: str

    def line(self) -> str:
        return f"{'OK  ' if self.ok else 'FAIL'}  {self.source}: {self.message}"


def verify_entry(
    entry: Entry, trusted: TrustedKeys | None, require_signature: bool
) -> VerifyResult:
    from ecoscore.grading.grade import quality_gate_reason
    from ecoscore.jury.signing import check_signature

    if entry.integrity_failed:
        return VerifyResult(entry.source, False, EXIT_INTEGRITY, str(entry.error))
    if entry.record is None:
        return VerifyResult(entry.source, False, EXIT_INPUT, str(entry.error))
    rec = entry.record
    what = f"{rec.model.name} on {rec.workload.name} ({rec.record_id[:12]})"
    sig = check_signature(rec, trusted)
    if sig.state == "invalid" or sig.state == "untrusted":
        return VerifyResult(entry.source, False, EXIT_INTEGRITY, f"{what}: {sig.detail}")
    if sig.state == "unsigned" and require_signature:
        return VerifyResult(
            entry.source, False, EXIT_INTEGRITY, f"{what}: no signature (one is required)"
        )
    gate = quality_gate_reason(rec)
    if gate is not None and rec.record_type == "run":
        return VerifyResult(entry.source, False, EXIT_NOT_ELIGIBLE, f"{what}: {gate}")
    kind = "replication" if rec.record_type == "replication" else "eligible"
    return VerifyResult(entry.source, True, EXIT_OK, f"{what}: integrity ok; {sig.detail}; {kind}")


def exit_code(results: list[VerifyResult]) -> int:
    codes = {r.code for r in results}
    for code in (EXIT_INTEGRITY, EXIT_INPUT, EXIT_NOT_ELIGIBLE):
        if code in codes:
            return code
    return EXIT_OK


def verify(
    records: Annotated[
        list[Path], typer.Argument(help="Record files, folders of records, or bundles (.zip).")
    ],
    trusted_keys: Annotated[
        Path | None,
        typer.Option(help="Trusted-keys TOML ([[keys]] name, public_key_b64)."),
    ] = None,
    require_signature: Annotated[
        bool | None,
        typer.Option(
            "--require-signature/--allow-unsigned",
            help="Default: required when --trusted-keys is given.",
        ),
    ] = None,
) -> None:
    """Check records: schema, integrity (record_id), signature and quality gate."""
    from ecoscore.jury.compare import iter_entries
    from ecoscore.jury.trust import TrustError, load_trusted_keys

    trusted = None
    if trusted_keys is not None:
        try:
            trusted = load_trusted_keys(trusted_keys)
        except TrustError as e:
            print(f"ecoscore: error: {e}")
            raise typer.Exit(EXIT_INPUT) from None
    required = require_signature if require_signature is not None else trusted is not None
    results = []
    for entry in iter_entries(records):
        result = verify_entry(entry, trusted, required)
        print(result.line(), flush=True)
        results.append(result)
    passed = sum(r.ok for r in results)
    print(f"{passed} of {len(results)} record(s) pass")
    raise typer.Exit(exit_code(results))


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
