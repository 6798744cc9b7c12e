"""Comparing many run records: load them one by one (a bad file is reported with its error
and the others are still processed), grade each with one scale, check signatures, flag what
a jury must know, and lay the result out as one table per workload.

Order of a table: by grade (A first, no grade last), then by energy per inference. The
relative rank (1 = least energy among the graded run records of that workload) is shown
beside the absolute grade; the grade never depends on the other records.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ecoscore.benchmarks.metrics import passes_gate
from ecoscore.grading.grade import Grade, grade_record
from ecoscore.grading.scale import CLASSES, Scale
from ecoscore.jury.replicate import ReplicationReport, compare_runs
from ecoscore.jury.signing import SignatureCheck, check_signature
from ecoscore.jury.trust import TrustedKeys
from ecoscore.record import IntegrityError, RecordError, RunRecord, load_record

if TYPE_CHECKING:
    import pandas as pd

#: What each flag means (shown in reports under the table).
FLAGS: dict[str, str] = {
    "integrity-failed": "the content does not match its record_id: edited after the run",
    "invalid-signature": "the signature does not verify",
    "untrusted-signature": "signed by a key that is not in the trusted keys",
    "unsigned": "the record carries no signature",
    "estimated-energy": "energy ESTIMATED, not measured: the grade is provisional",
    "quick-run": "a quick (smoke) run, shorter than the workload's rules",
    "below-gate": "quality under the workload's gate: not eligible for a grade",
    "no-grade": "no grade for another reason (see the record's details)",
    "mixed-hardware": "the records of this workload were made on different hardware",
    "mixed-boundaries": "the records of this workload measure energy at different boundaries",
    "scale-mismatch": "the scale has no thresholds for this workload, or the records were "
    "made with different workload definitions or data",
    "replication": "a replication record (checks an original; not ranked)",
    "not-replicated": "a replication of this record disagrees beyond the tolerances",
}


@dataclass(frozen=True)
class Entry:
    """One record as loaded. ``record`` is None when the file could not be read or parsed;
    when ``integrity_failed`` it holds the (untrusted) content, for display only."""

    source: str
    submission: str
    category: str | None = None
    record: RunRecord | None = None
    error: str | None = None
    integrity_failed: bool = False


def _untrusted_content(doc: object) -> RunRecord | None:
    try:
        return RunRecord.model_validate(doc)
    except ValueError:
        return None


def entry_from_file(path: Path, submission: str | None = None) -> Entry:
    sub = submission or Path(path).name
    try:
        return Entry(source=str(path), submission=sub, record=load_record(path))
    except IntegrityError as e:
        try:
            doc = json.loads(Path(path).read_bytes())
        except (OSError, ValueError):
            doc = None
        return Entry(str(path), sub, None, _untrusted_content(doc), str(e), True)
    except RecordError as e:
        return Entry(str(path), sub, error=str(e))


def _entries_from_bundle(path: Path) -> Iterator[Entry]:
    from ecoscore.jury.bundle import BundleError, BundleIntegrityError, read_bundle

    try:
        bundle = read_bundle(path)
    except BundleError as e:
        altered = isinstance(e, BundleIntegrityError)
        yield Entry(str(path), path.name, error=str(e), integrity_failed=altered)
        return
    names = bundle.record_names()
    if not names:
        yield Entry(str(path), path.name, bundle.category, error=f"{path}: no records inside")
    for name in names:
        source = f"{path}:{name}"
        try:
            yield Entry(source, path.name, bundle.category, bundle.parse(name))
        except IntegrityError as e:
            try:
                doc = json.loads(bundle.members[name])
            except ValueError:
                doc = None
            yield Entry(source, path.name, bundle.category, _untrusted_content(doc), str(e), True)
        except RecordError as e:
            yield Entry(source, path.name, bundle.category, error=str(e))


def iter_entries(paths: Iterable[Path]) -> Iterator[Entry]:
    """Records from files, folders (every ``*.json`` below) and bundles (``.zip``)."""
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for f in sorted(path.rglob("*.json")):
                yield entry_from_file(f)
        elif path.suffix.lower() == ".zip":
            yield from _entries_from_bundle(path)
        elif not path.exists():
            yield Entry(source=str(path), submission=path.name, error=f"{path}: no such file")
        else:
            yield entry_from_file(path)


@dataclass
class Row:
    entry: Entry
    grade: Grade | None
    signature: SignatureCheck | None
    flags: list[str] = field(default_factory=list)
    rank: int | None = None
    ranked_among: int = 0
    replications: list[ReplicationReport] = field(default_factory=list)

    @property
    def record(self) -> RunRecord:
        assert self.entry.record is not None
        return self.entry.record

    @property
    def trusted_content(self) -> bool:
        return not self.entry.integrity_failed

    @property
    def energy_j(self) -> float | None:
        s = self.record.scenario("single_stream")
        if s is None or s.energy_per_inference_j is None:
            return None
        return s.energy_per_inference_j.median

    @property
    def rankable(self) -> bool:
        return (
            self.trusted_content
            and self.record.record_type == "run"
            and self.grade is not None
            and self.grade.letter is not None
        )

    @property
    def replicated_text(self) -> str:
        if not self.replications:
            return ""
        good = [r for r in self.replications if r.replicated]
        if good:
            hw = "same hardware" if good[0].same_hardware else "other hardware"
            return f"replicated ({hw})"
        return self.replications[0].verdict

    @property
    def signature_text(self) -> str:
        if self.signature is None:
            return "not checked"
        s = self.signature
        return {
            "unsigned": "unsigned",
            "invalid": "INVALID",
            "untrusted": f"untrusted ({s.key_id})",
            "trusted": f"trusted: {s.signer}",
            "unchecked": f"valid ({s.key_id}), trust not checked",
        }[s.state]

    def sort_key(self) -> tuple[int, int, float]:
        letter = self.grade.letter if self.grade is not None else None
        g = CLASSES.index(letter) if letter in CLASSES else len(CLASSES)
        e = self.energy_j if self.trusted_content else None
        return (0 if self.trusted_content else 1, g, e if e is not None else math.inf)


@dataclass
class Comparison:
    scale: Scale
    trusted: TrustedKeys | None
    rows: list[Row]
    errors: list[Entry]  # files that could not be read at all

    def workloads(self) -> list[str]:
        return sorted({r.record.workload.name for r in self.rows})

    def rows_for(self, workload: str) -> list[Row]:
        rows = [r for r in self.rows if r.record.workload.name == workload]
        return sorted(rows, key=Row.sort_key)

    def group_flags(self, workload: str) -> list[str]:
        rows = [r for r in self.rows_for(workload) if r.trusted_content]
        flags = []
        if len({(r.record.device.kind, r.record.device.name) for r in rows}) > 1:
            flags.append("mixed-hardware")
        if len({r.record.meter.boundary for r in rows}) > 1:
            flags.append("mixed-boundaries")
        defs = {
            (
                r.record.workload.version,
                r.record.workload.definition_sha256,
                r.record.workload.eval_data_sha256,
            )
            for r in rows
        }
        if self.scale.for_workload(workload) is None or len(defs) > 1:
            flags.append("scale-mismatch")
        return flags

    def dataframe(self, workload: str | None = None) -> pd.DataFrame:
        """The comparison table (one workload, or all with a ``workload`` column)."""
        import pandas as pd

        names = [workload] if workload else self.workloads()
        out = [table_row(r) for w in names for r in self.rows_for(w)]
        return pd.DataFrame(out, columns=list(COLUMNS))


COLUMNS = (
    "workload",
    "rank",
    "grade",
    "class probabilities",
    "model",
    "type",
    "energy mJ/inference",
    "energy 95% CI mJ",
    "quality",
    "gate",
    "latency p50 ms",
    "device",
    "boundary",
    "measurement",
    "signature",
    "replicated",
    "flags",
    "record_id",
    "source",
)


def _fmt(v: float | None, digits: int = 4) -> str:
    return "" if v is None else f"{v:.{digits}g}"


def table_row(r: Row) -> dict[str, object]:
    rec = r.record
    g = r.grade
    single = rec.scenario("single_stream")
    stat = single.energy_per_inference_j if single else None
    trusted = r.trusted_content
    lat = single.latency.p50_ms if single and single.latency else None
    return {
        "workload": rec.workload.name,
        "rank": f"{r.rank}/{r.ranked_among}" if r.rank is not None else "-",
        "grade": g.mark if g is not None and trusted else "-",
        "class probabilities": g.probabilities_text if g is not None and trusted else "",
        "model": rec.model.name,
        "type": rec.record_type,
        "energy mJ/inference": _fmt(stat.median * 1e3) if stat and trusted else "",
        "energy 95% CI mJ": (
            f"{_fmt(stat.ci_low * 1e3)} - {_fmt(stat.ci_high * 1e3)}" if stat and trusted else ""
        ),
        "quality": _fmt(rec.quality.value) if trusted else "",
        "gate": _fmt(rec.workload.quality_gate),
        "latency p50 ms": _fmt(lat) if trusted else "",
        "device": rec.device.name,
        "boundary": rec.meter.boundary,
        "measurement": rec.meter.measurement,
        "signature": r.signature_text,
        "replicated": r.replicated_text,
        "flags": " ".join(r.flags),
        "record_id": rec.record_id[:12],
        "source": r.entry.source,
    }


def _record_flags(r: Row) -> list[str]:
    flags: list[str] = []
    rec = r.record
    if r.entry.integrity_failed:
        flags.append("integrity-failed")
    if r.signature is not None:
        state = r.signature.state
        if state == "invalid":
            flags.append("invalid-signature")
        elif state == "untrusted":
            flags.append("untrusted-signature")
        elif state == "unsigned":
            flags.append("unsigned")
    if rec.meter.measurement == "ESTIMATED":
        flags.append("estimated-energy")
    if rec.run.quick:
        flags.append("quick-run")
    if not passes_gate(rec.quality.metric, rec.quality.value, rec.workload.quality_gate):
        flags.append("below-gate")
    elif r.grade is not None and r.grade.letter is None and r.trusted_content:
        flags.append("no-grade")
    if rec.record_type == "replication":
        flags.append("replication")
    return flags


def _link_replications(rows: list[Row]) -> None:
    originals = {r.record.record_id: r for r in rows if r.trusted_content}
    for rep in rows:
        rec = rep.record
        if rec.record_type != "replication" or not rep.trusted_content or not rec.replicates:
            continue
        orig = originals.get(rec.replicates)
        if orig is not None and orig is not rep:
            orig.replications.append(compare_runs(orig.record, rec))
    for r in rows:
        if r.replications and not any(x.replicated for x in r.replications):
            r.flags.append("not-replicated")


def build_comparison(
    entries: Iterable[Entry], scale: Scale, trusted: TrustedKeys | None = None
) -> Comparison:
    rows: list[Row] = []
    errors: list[Entry] = []
    for entry in entries:
        if entry.record is None:
            errors.append(entry)
            continue
        rec = entry.record
        grade = grade_record(rec, scale) if not entry.integrity_failed else None
        sig = check_signature(rec, trusted) if not entry.integrity_failed else None
        row = Row(entry=entry, grade=grade, signature=sig)
        row.flags = _record_flags(row)
        rows.append(row)
    comparison = Comparison(scale=scale, trusted=trusted, rows=rows, errors=errors)
    _link_replications(rows)
    for w in comparison.workloads():
        group = comparison.rows_for(w)
        extra = comparison.group_flags(w)
        ranked = sorted((r for r in group if r.rankable), key=lambda r: r.energy_j or math.inf)
        for i, r in enumerate(ranked, start=1):
            r.rank, r.ranked_among = i, len(ranked)
        for r in group:
            r.flags.extend(f for f in extra if f not in r.flags)
    return comparison
