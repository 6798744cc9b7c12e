"""Verification of records and bundles: what ``ecoscore verify`` checks, one result per
record, and the exit code a script can use.

In order: the file can be read and is a record (else 3); its content matches its record_id
and its signature verifies, by a trusted key when keys are given, and by the key that
signed its bundle (else 5); every rule of ecoscore.checks that makes a record's figures
unusable holds, and its quality reaches the installed workload's gate (else 7). A record
that passes may still not certify (a quick run, estimated energy...): the line says so and
names the rules.

Exit code: the most serious of the records', in that order: 5, 3, 7; else 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecoscore.checks import check_record
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
    certifiable: bool = False

    def line(self) -> str:
        return f"{'OK  ' if self.ok else 'FAIL'}  {self.source}: {self.message}"


def verify_entry(
    entry: Entry,
    trusted: TrustedKeys | None,
    require_signature: bool,
    definitions: dict[str, Any] | None = None,
) -> VerifyResult:
    """``definitions``: workloads declared by workload files given to verify (by file
    sha256); a bundle's own workload files are added to them."""
    if entry.integrity_failed:
        return VerifyResult(entry.source, False, EXIT_INTEGRITY, str(entry.error))
    if entry.record is None:
        return VerifyResult(entry.source, False, EXIT_INPUT, str(entry.error))
    rec = entry.record
    what = f"{rec.model.name} on {rec.workload.name} ({rec.record_id[:12]})"

    def fail(code: int, message: str) -> VerifyResult:
        return VerifyResult(entry.source, False, code, f"{what}: {message}")

    sig = check_signature(rec, trusted)
    if sig.state in ("invalid", "untrusted"):
        return fail(EXIT_INTEGRITY, sig.detail)
    if sig.state == "unsigned" and require_signature:
        return fail(EXIT_INTEGRITY, "no signature (one is required)")
    if entry.submitter_key and sig.key_id and sig.key_id != entry.submitter_key:
        return fail(
            EXIT_INTEGRITY,
            f"signed by key {sig.key_id}, not by the key that signed its bundle "
            f"({entry.submitter_key})",
        )
    report = check_record(rec, {**(definitions or {}), **entry.definitions})
    if report.invalid:
        return fail(EXIT_NOT_ELIGIBLE, "; ".join(f.line() for f in report.invalid))
    gate = quality_gate_reason(rec, report)
    if gate is not None and rec.record_type == "run":
        return fail(EXIT_NOT_ELIGIBLE, gate)
    blockers = [f.line() for f in report.blockers]
    log = rec.meter.log_sha256
    if log and entry.logs is not None and log not in entry.logs:
        blockers.append(f"[power-log] its bundle does not carry the power log {log[:12]}")
    kind = "replication" if rec.record_type == "replication" else "eligible"
    cert = "certifiable: yes" if not blockers else f"certifiable: no ({'; '.join(blockers)})"
    message = f"{what}: integrity ok; {sig.detail}; {kind}; assurance {report.assurance}; {cert}"
    return VerifyResult(entry.source, True, EXIT_OK, message, not blockers)


def exit_code(results: list[VerifyResult]) -> int:
    codes = {r.code for r in results}
    for code in (EXIT_INTEGRITY, EXIT_INPUT, EXIT_NOT_ELIGIBLE):
        if code in codes:
            return code
    return EXIT_OK
