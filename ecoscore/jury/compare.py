"""Comparing many run records: load them one by one (a bad file is reported with its error
and the others are still processed), grade each with one scale, check signatures, flag what
a jury must know, and lay the result out as one table per workload.

Order of a table: full runs by grade (A first, no grade last), then by energy per
inference; then replications, then quick (smoke) runs, then records whose content fails its
integrity check. Within each section, records of different energy boundaries (gpu,
cpu-package, gpu+cpu-package, board-input, ...) are grouped apart: they measure different
things, so the relative rank (1 = least energy among the graded full runs of that workload
at that boundary) and the Pareto front never mix them. The rank is shown beside the
absolute grade; the grade never depends on the other records. Quick runs are shown apart
and never ranked: their windows are too short to compare.

A record is checked, graded and signature-checked when it is loaded; the comparison then
keeps only its summary (ecoscore.jury.summary), so that memory grows with the rows, not
with the windows of every record.

Submissions are identities, not file names: a bundle is its manifest's sha256 (two bundles
named ``submission.zip`` are two submissions), a record file is its full path. A record
seen twice (in one submission or across several) is counted once and flagged as a
duplicate. A record inside a signed bundle must be signed by the bundle's signer (or be
unsigned); a replication counts only when it is signed by a trusted key, and it raises the
original to ``lab-replicated`` only when that key is not the applicant's and the
replication is a full run: a quick replication (``reproduce --quick``) is a first look,
shown but never counted.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecoscore.benchmarks.metrics import passes_gate
from ecoscore.benchmarks.workload_file import definitions_of
from ecoscore.checks import check_record
from ecoscore.grading.grade import Grade, grade_record
from ecoscore.grading.scale import CLASSES, Scale
from ecoscore.jury.replicate import ReplicationReport, compare_runs
from ecoscore.jury.signing import SignatureCheck, check_signature
from ecoscore.jury.summary import RecordSummary, summarise
from ecoscore.jury.trust import TrustedKeys
from ecoscore.record import IntegrityError, RecordError, RunRecord, parse_record, read_record_doc

if TYPE_CHECKING:
    import pandas as pd

#: What each flag means (shown in reports under the table).
FLAGS: dict[str, str] = {
    "integrity-failed": "the content does not match its record_id: edited after the run",
    "invalid-signature": "the signature does not verify",
    "untrusted-signature": "signed by a key that is not in the trusted keys",
    "unsigned": "the record carries no signature",
    "estimated-energy": "energy ESTIMATED, not measured: the grade is provisional",
    "quick-run": "a quick (smoke) run, shorter than the workload's rules: shown apart, "
    "not ranked, not on the Pareto front, never certifiable",
    "below-gate": "quality under the workload's gate: not eligible for a grade",
    "no-grade": "no grade for another reason (see the record's details)",
    "mixed-hardware": "the records of this workload were made on different hardware",
    "mixed-boundaries": "the records of this workload measure energy at different "
    "boundaries: each boundary is ranked and plotted apart",
    "scale-mismatch": "the scale has no thresholds for this workload, or the records were "
    "made with different workload definitions or data",
    "replication": "a replication record (checks an original; not ranked)",
    "not-replicated": "a replication of this record disagrees beyond the tolerances",
    "self-reported": "figures ecoscore did not measure itself (an external power log, or a "
    "quality given by the caller)",
    "duplicate": "the same record appears earlier in this comparison: counted once",
    "signed-by-other-key": "signed by another key than the one that signed its bundle",
    "untrusted-replication": "a replication not signed by a trusted key: it does not count",
    "power-log-missing": "its energy comes from an external power log that its bundle lacks",
    "interference": "other processes used more than 10 % of the CPUs (or the measured GPU) "
    "during a measured window: the energy is inflated and the record is not certifiable",
    "quick-replication": "a quick replication (reproduce --quick): a first look, shown but "
    "never counted as a replication",
}
#: Rules of ecoscore.checks shown under another flag name, or not as a flag of their own.
_RULE_FLAGS = {
    "full-run": "quick-run",
    "assurance-derived": None,
    "no-interference": "interference",
}


@dataclass(frozen=True)
class Entry:
    """One record as loaded. ``record`` is None when the file could not be read or parsed;
    when ``integrity_failed`` it holds the (untrusted) content, for display only.

    ``submission`` identifies the submission (``bundle:<manifest sha256>`` or
    ``file:<full path>``); ``submission_label`` is how it is shown. ``submitter_key`` is
    the key id that signed the bundle's manifest; ``logs`` the sha256 of the power logs the
    bundle carries (None for a record file)."""

    source: str
    submission: str
    category: str | None = None
    record: RunRecord | None = None
    error: str | None = None
    integrity_failed: bool = False
    submission_label: str = ""
    submitter_key: str | None = None
    logs: frozenset[str] | None = None
    #: The workloads declared by the workload files its bundle carries, by file sha256.
    definitions: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.submission_label or self.submission


def _untrusted_content(doc: object) -> RunRecord | None:
    try:
        return RunRecord.model_validate(doc)
    except ValueError:
        return None


def entry_from_file(path: Path, submission: str | None = None) -> Entry:
    full = str(Path(path).resolve())
    sub = submission or f"file:{full}"
    label = str(path)
    try:
        doc = read_record_doc(path)
        return Entry(str(path), sub, record=parse_record(doc, str(path)), submission_label=label)
    except IntegrityError as e:
        return Entry(
            str(path), sub, None, _untrusted_content(doc), str(e), True, submission_label=label
        )
    except RecordError as e:
        return Entry(str(path), sub, error=str(e), submission_label=label)


def _entries_from_bundle(path: Path) -> Iterator[Entry]:
    from ecoscore.jury.bundle import BundleError, BundleIntegrityError, read_bundle

    try:
        bundle = read_bundle(path)
    except BundleError as e:
        altered = isinstance(e, BundleIntegrityError)
        full = f"file:{Path(path).resolve()}"
        yield Entry(str(path), full, error=str(e), integrity_failed=altered)
        return
    who = f", applicant {bundle.applicant}" if bundle.applicant else ""
    signer = bundle.signature.key_id if bundle.signature is not None else None
    signed = f", signed by key {signer}" if signer else ", manifest not signed"
    common = {
        "submission": f"bundle:{bundle.bundle_id}",
        "category": bundle.category,
        "submission_label": f"{path} [bundle {bundle.bundle_id[:12]}{who}{signed}]",
        "submitter_key": signer,
        "logs": frozenset(
            n.removeprefix("logs/").removesuffix(".csv")
            for n in bundle.members
            if n.startswith("logs/")
        ),
        "definitions": definitions_of(
            d for n, d in bundle.members.items() if n.startswith("workloads/")
        ),
    }
    names = bundle.record_names()
    if not names:
        yield Entry(str(path), error=f"{path}: no records inside", **common)
    for name in names:
        source = f"{path}:{name}"
        try:
            doc = bundle.doc(name)
            yield Entry(source, record=parse_record(doc, source), **common)
        except IntegrityError as e:
            yield Entry(
                source,
                record=_untrusted_content(doc),
                error=str(e),
                integrity_failed=True,
                **common,
            )
        except RecordError as e:
            yield Entry(source, error=str(e), **common)


#: File suffixes read from a folder (compared without regard to case).
RECORD_SUFFIXES = (".json",)
BUNDLE_SUFFIXES = (".zip",)


def files_in(folder: Path) -> list[Path]:
    """Record files and bundles below ``folder``, sorted; symbolic links to folders are not
    followed (no loop), those to files are (the reader then checks what they point at)."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in files:
            if name.lower().endswith(RECORD_SUFFIXES + BUNDLE_SUFFIXES):
                found.append(Path(root) / name)
    return sorted(found)


def iter_entries(paths: Iterable[Path]) -> Iterator[Entry]:
    """Records from files, folders (every ``*.json`` record and ``*.zip`` bundle below, in
    any case) and bundles (``.zip``)."""
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for f in files_in(path):
                yield from _entries_from_path(f)
        elif not path.exists() and not path.is_symlink():
            yield Entry(str(path), f"file:{path.resolve()}", error=f"{path}: no such file")
        else:
            yield from _entries_from_path(path)


def _entries_from_path(path: Path) -> Iterator[Entry]:
    if path.suffix.lower() in BUNDLE_SUFFIXES:
        yield from _entries_from_bundle(path)
    else:
        yield entry_from_file(path)


#: Sections of a workload's table, in order (Row.section).
SECTIONS = ("run", "replication", "quick", "integrity-failed")


@dataclass
class Row:
    """One record of a comparison. ``entry`` is the record's entry without its parsed
    record (``entry.record`` is None): the row keeps ``summary``."""

    entry: Entry
    grade: Grade | None
    signature: SignatureCheck | None
    summary: RecordSummary
    flags: list[str] = field(default_factory=list)
    rank: int | None = None
    ranked_among: int = 0
    replications: list[ReplicationReport] = field(default_factory=list)
    #: Quick replications (reproduce --quick) of this record: shown, never counted.
    quick_looks: list[ReplicationReport] = field(default_factory=list)
    #: The source of the first row with the same record_id (this one is not counted).
    duplicate_of: str | None = None
    #: A full replication within tolerances, signed by a trusted key that is not the
    #: applicant's.
    lab_replicated_by: str | None = None
    #: What the caller of build_comparison kept of the full record (e.g. a label's content).
    extra: Any = None

    @property
    def assurance(self) -> str:
        """The assurance level: derived from the record, raised by a lab replication."""
        if self.lab_replicated_by is not None:
            return "lab-replicated"
        return self.grade.assurance if self.grade is not None else ""

    @property
    def certifiable(self) -> bool:
        g = self.grade
        if g is None or not self.trusted_content or self.duplicate_of is not None:
            return False
        severe = {"invalid-signature", "signed-by-other-key", "power-log-missing"}
        return g.certifiable and not severe & set(self.flags)

    @property
    def record(self) -> RecordSummary:
        return self.summary

    @property
    def quick(self) -> bool:
        return self.summary.run.quick

    @property
    def section(self) -> str:
        """Which part of the workload's table the row is shown in (SECTIONS)."""
        if not self.trusted_content:
            return "integrity-failed"
        if self.summary.record_type == "replication":
            return "replication"
        return "quick" if self.quick else "run"

    @property
    def interference(self) -> list[str]:
        """What the interference probe saw (the no-interference rule's findings)."""
        if self.grade is None:
            return []
        tag = "[no-interference] "
        return [b.removeprefix(tag) for b in self.grade.certification_blockers if b.startswith(tag)]

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
        """A graded full run, counted once: quick runs are never ranked."""
        return (
            self.section == "run"
            and self.duplicate_of is None
            and self.grade is not None
            and self.grade.letter is not None
        )

    @property
    def replicated_text(self) -> str:
        if not self.replications:
            if self.quick_looks:
                return f"quick look only: {self.quick_looks[0].verdict} (does not count)"
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

    def sort_key(self) -> tuple[int, str, int, float]:
        letter = self.grade.letter if self.grade is not None else None
        g = CLASSES.index(letter) if letter in CLASSES else len(CLASSES)
        e = self.energy_j if self.trusted_content else None
        boundary = self.record.meter.boundary
        return (SECTIONS.index(self.section), boundary, g, e if e is not None else math.inf)


@dataclass
class Comparison:
    scale: Scale
    trusted: TrustedKeys | None
    rows: list[Row]
    errors: list[Entry]  # files that could not be read at all
    _sorted: dict[str, list[Row]] = field(default_factory=dict, repr=False)

    def workloads(self) -> list[str]:
        if not self._sorted:
            by: dict[str, list[Row]] = {}
            for r in self.rows:
                by.setdefault(r.record.workload.name, []).append(r)
            self._sorted.update({w: sorted(by[w], key=Row.sort_key) for w in sorted(by)})
        return list(self._sorted)

    def rows_for(self, workload: str, boundary: str | None = None) -> list[Row]:
        """The workload's rows in table order (SECTIONS, then boundary, grade and energy);
        ``boundary``: only the rows measured at that boundary."""
        self.workloads()
        rows = self._sorted.get(workload, [])
        if boundary is None:
            return rows
        return [r for r in rows if r.record.meter.boundary == boundary]

    def boundaries(self, workload: str) -> list[str]:
        """The energy boundaries of the workload's rows, in table order: each is ranked and
        drawn apart."""
        return list(dict.fromkeys(r.record.meter.boundary for r in self.rows_for(workload)))

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

        names = [workload] if workload is not None else self.workloads()
        out = [table_row(r) for w in names for r in self.rows_for(w)]
        return pd.DataFrame(out, columns=list(COLUMNS))


COLUMNS = (
    "workload",
    "rank",
    "grade",
    "class probabilities",
    "model grade",
    "model factor",
    "model",
    "type",
    "engine",
    "precision",
    "energy mJ/inference",
    "energy CI mJ",
    "CI level",
    "quality",
    "gate",
    "latency p50 ms",
    "device",
    "boundary",
    "measurement",
    "assurance",
    "certifiable",
    "signature",
    "replicated",
    "flags",
    "record_id",
    "source",
)


def _fmt(v: float | None, digits: int = 4) -> str:
    return "" if v is None else f"{v:.{digits}g}"


def ci_level_text(level: float) -> str:
    """The level a confidence interval reaches: ``93.75%`` with 5 repeats, ``75%`` with 3
    (the order-statistic interval of the median; ecoscore.runners.stats)."""
    return f"{level * 100:.4g}%" if level > 0 else "none (1 repeat)"


TYPE_TEXT = {
    ("run", False): "run",
    ("run", True): "quick run",
    ("replication", False): "replication",
    ("replication", True): "quick replication",
}


def table_row(r: Row) -> dict[str, object]:
    rec = r.record
    g = r.grade
    single = rec.scenario("single_stream")
    stat = single.energy_per_inference_j if single else None
    trusted = r.trusted_content
    lat = single.latency.p50_ms if single and single.latency else None
    mg = g.model_grade if g is not None else None  # a paired record's (ecoscore run --paired)
    return {
        "workload": rec.workload.name,
        "rank": f"{r.rank}/{r.ranked_among}" if r.rank is not None else "-",
        "grade": g.mark if g is not None and trusted else "-",
        "class probabilities": g.probabilities_text if g is not None and trusted else "",
        "model grade": mg.mark if mg is not None and trusted else "",
        "model factor": mg.factor_text if mg is not None and trusted else "",
        "model": rec.model.name,
        "type": TYPE_TEXT.get((rec.record_type, rec.run.quick), rec.record_type),
        "engine": f"{rec.engine.name} {rec.engine.version}",
        "precision": rec.engine.precision,
        "energy mJ/inference": _fmt(stat.median * 1e3) if stat and trusted else "",
        "energy CI mJ": (
            f"{_fmt(stat.ci_low * 1e3)} - {_fmt(stat.ci_high * 1e3)}" if stat and trusted else ""
        ),
        "CI level": ci_level_text(stat.ci_level) if stat and trusted else "",
        "quality": _fmt(rec.quality.value) if trusted else "",
        "gate": _fmt(rec.workload.quality_gate),
        "latency p50 ms": _fmt(lat) if trusted else "",
        "device": rec.device.name,
        "boundary": rec.meter.boundary,
        "measurement": rec.meter.measurement,
        "assurance": r.assurance,
        "certifiable": "yes" if r.certifiable else "no",
        "signature": r.signature_text,
        "replicated": r.replicated_text,
        "flags": " ".join(r.flags),
        "record_id": rec.record_id[:12],
        "source": r.entry.source,
    }


def _record_flags(r: Row) -> list[str]:
    flags: list[str] = []
    rec, entry, sig = r.record, r.entry, r.signature
    if entry.integrity_failed:
        flags.append("integrity-failed")
    if sig is not None:
        state = sig.state
        if state == "invalid":
            flags.append("invalid-signature")
        elif state == "untrusted":
            flags.append("untrusted-signature")
        elif state == "unsigned":
            flags.append("unsigned")
        if (
            entry.submitter_key is not None
            and sig.key_id is not None
            and sig.state != "invalid"
            and sig.key_id != entry.submitter_key
        ):
            flags.append("signed-by-other-key")
    g = r.grade
    if g is not None:
        if g.assurance == "estimated":
            flags.append("estimated-energy")
        elif g.assurance == "self-reported":
            flags.append("self-reported")
        for rule in g.failed_rules:
            flag = _RULE_FLAGS.get(rule, rule)
            if flag is not None:
                flags.append(flag)
    gate = g.quality_gate if g is not None else rec.workload.quality_gate
    if not passes_gate(rec.quality.metric, rec.quality.value, gate):
        flags.append("below-gate")
    elif g is not None and g.letter is None and r.trusted_content:
        flags.append("no-grade")
    if rec.meter.log_sha256 and entry.logs is not None and rec.meter.log_sha256 not in entry.logs:
        flags.append("power-log-missing")
    if rec.record_type == "replication":
        flags.append("replication")
        if rec.run.quick:
            flags.append("quick-replication")
        if sig is None or sig.state != "trusted":
            flags.append("untrusted-replication")
    return flags


def _mark_duplicates(rows: list[Row]) -> None:
    first: dict[str, Row] = {}
    for r in rows:
        if not r.trusted_content:
            continue
        seen = first.get(r.record.record_id)
        if seen is None:
            first[r.record.record_id] = r
        else:
            r.duplicate_of = seen.entry.source
            r.flags.append("duplicate")


def _link_replications(rows: list[Row]) -> None:
    """Attach each trusted replication to its original. A replication signed by a trusted
    key other than the original's signer makes the original lab-replicated."""
    originals = {
        r.record.record_id: r for r in rows if r.trusted_content and r.duplicate_of is None
    }
    for rep in rows:
        rec = rep.record
        if rec.record_type != "replication" or not rep.trusted_content or not rec.replicates:
            continue
        if "untrusted-replication" in rep.flags or rep.duplicate_of is not None:
            continue
        orig = originals.get(rec.replicates)
        if orig is None or orig is rep:
            continue
        report = compare_runs(orig.record, rec)
        if rec.run.quick:  # reproduce --quick: a first look, never a replication
            orig.quick_looks.append(report)
            continue
        orig.replications.append(report)
        applicant = orig.signature.key_id if orig.signature is not None else None
        applicant = applicant or orig.entry.submitter_key
        assert rep.signature is not None  # trusted, per the flags above
        if report.replicated and rep.signature.key_id != applicant:
            orig.lab_replicated_by = rep.signature.signer or rep.signature.key_id
    for r in rows:
        if r.replications and not any(x.replicated for x in r.replications):
            r.flags.append("not-replicated")


def build_comparison(
    entries: Iterable[Entry],
    scale: Scale,
    trusted: TrustedKeys | None = None,
    definitions: dict[str, Any] | None = None,
    keep: Callable[[RunRecord, Grade], Any] | None = None,
) -> Comparison:
    """Check, grade and compare the records. Each record is checked when it is read, then
    only its summary is kept; ``keep(record, grade)``, when given, is called on each graded
    record and what it returns is kept as the row's ``extra`` (what a report needs of the
    full record, e.g. the content of its label). ``definitions``: workloads declared by
    workload files the jury gives (by file sha256), for records run from one."""
    rows: list[Row] = []
    errors: list[Entry] = []
    for entry in entries:
        if entry.record is None:
            errors.append(entry)
            continue
        rec = entry.record
        checks = check_record(rec, {**(definitions or {}), **entry.definitions})
        grade = grade_record(rec, scale, checks) if not entry.integrity_failed else None
        sig = check_signature(rec, trusted) if not entry.integrity_failed else None
        row = Row(
            entry=replace(entry, record=None), grade=grade, signature=sig, summary=summarise(rec)
        )
        if keep is not None and grade is not None:
            row.extra = keep(rec, grade)
        row.flags = _record_flags(row)
        rows.append(row)
    comparison = Comparison(scale=scale, trusted=trusted, rows=rows, errors=errors)
    _mark_duplicates(rows)
    _link_replications(rows)
    for w in comparison.workloads():
        group = comparison.rows_for(w)
        extra = comparison.group_flags(w)
        for b in comparison.boundaries(w):  # never ranked across boundaries
            same = (r for r in comparison.rows_for(w, b) if r.rankable)
            ranked = sorted(same, key=lambda r: r.energy_j or math.inf)
            for i, r in enumerate(ranked, start=1):
                r.rank, r.ranked_among = i, len(ranked)
        for r in group:
            r.flags.extend(f for f in extra if f not in r.flags)
    return comparison
