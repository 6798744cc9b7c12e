"""Verification of records and bundles: what ``ecoscore verify`` checks, one result per
record, and the exit code a script can use.

Exit codes: 0 every record passes; 5 a record fails its integrity or signature check; 3 a
file cannot be read or is not a valid record or bundle; 7 a record is not eligible. The
most serious applies, in that order: 5, 3, 7.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecoscore.errors import EXIT_INPUT, EXIT_INTEGRITY, EXIT_NOT_ELIGIBLE, EXIT_OK
from ecoscore.grading.grade import quality_gate_reason
from ecoscore.jury.compare import Entry
from ecoscore.jury.signing import check_signature
from ecoscore.jury.trust import TrustedKeys


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
