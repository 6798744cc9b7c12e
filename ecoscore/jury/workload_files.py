"""A record run from a workload file, checked against that file: the file given to
``ecoscore verify --workload-file``, or the copy a bundle holds (``workloads/<sha256>.toml``).

The comparison itself (file bytes, name, version, definition, task, metric, gate, pinned
evaluation data) is :func:`ecoscore.benchmarks.workload_file.check_record_against_bytes`.
"""

from __future__ import annotations

from pathlib import Path

from ecoscore.benchmarks.workload_file import check_record_against_bytes
from ecoscore.errors import EXIT_INTEGRITY
from ecoscore.jury.bundle import BundleError, read_bundle
from ecoscore.jury.compare import Entry
from ecoscore.jury.verify import VerifyResult
from ecoscore.record import RunRecord


class WorkloadFiles:
    """Workload files a verification may use: given files, and those inside bundles."""

    def __init__(self, given: list[Path] | None = None) -> None:
        self.given = [Path(p) for p in given or []]
        self._bundles: dict[str, dict[str, bytes]] = {}

    def _from_bundle(self, source: str, sha256: str) -> tuple[bytes, str] | None:
        archive, sep, _ = source.partition(".zip:")
        if not sep:
            return None
        path = archive + ".zip"
        if path not in self._bundles:
            try:
                bundle = read_bundle(Path(path))
            except BundleError:
                self._bundles[path] = {}
            else:
                self._bundles[path] = {
                    n: d for n, d in bundle.members.items() if n.startswith("workloads/")
                }
        data = self._bundles[path].get(f"workloads/{sha256}.toml")
        return (data, f"{path}:workloads/{sha256[:12]}.toml") if data is not None else None

    def check(self, record: RunRecord, source: str) -> tuple[bool, list[str]]:
        """(checked, problems) for a record that came from ``source`` (a file, or
        ``bundle.zip:records/...``). A record defined in Python is not checked."""
        sha = record.workload.definition_file_sha256
        if sha is None:
            return False, []
        if self.given:
            found: list[list[str]] = []
            for path in self.given:
                try:
                    data = path.read_bytes()
                except OSError as e:
                    return True, [f"{path}: cannot read the workload file: {e.strerror or e}"]
                found.append(check_record_against_bytes(record, data, str(path)))
            return True, min(found, key=len)
        found = self._from_bundle(source, sha)
        if found is None:
            return False, []
        return True, check_record_against_bytes(record, *found)


def verify_workload_file(result: VerifyResult, entry: Entry, files: WorkloadFiles) -> VerifyResult:
    """``result`` with the workload-file check added: a mismatch fails it (exit 5, the
    record does not match the definition it claims); a match or a missing file is said."""
    rec = entry.record
    if rec is None or entry.integrity_failed or rec.workload.definition_file_sha256 is None:
        return result
    checked, problems = files.check(rec, entry.source)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        what = f"{rec.model.name} on {rec.workload.name} ({rec.record_id[:12]})"
        message = f"{what}: workload file does not match: {problems[0]}{more}"
        return VerifyResult(result.source, False, EXIT_INTEGRITY, message)
    note = (
        "workload file matches"
        if checked
        else "workload file not checked (give it with --workload-file)"
    )
    return VerifyResult(result.source, result.ok, result.code, f"{result.message}; {note}")
