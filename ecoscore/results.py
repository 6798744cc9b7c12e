"""Run records as a table for researchers: ``ecoscore.results.load(DIR)`` gives a pandas
DataFrame with one row per record and scenario.

Rules enforced here:
- every record is loaded through ``ecoscore.record.load_record``: its schema is validated and
  its ``record_id`` recomputed, so an edited record never becomes a row;
- a file that cannot be used is never skipped silently: by default the first one raises its
  error (naming the file); with ``errors="collect"`` the rows of the good records are
  returned and the problems are listed in ``df.attrs["errors"]`` (file, message);
- the grade is the record's, computed with one explicit scale (``df.attrs["scale"]``); it is
  the same on both scenario rows of a record (a record is graded from its single-stream
  energy), and it is missing (None) where the record gets no grade;
- ``assurance`` is derived from the record's content by the rules of verify
  (ecoscore.checks), never taken from the record's own claim; ``certifiable`` and
  ``failed_rules`` say whether the record certifies, and why not;
- a record made by a campaign says so in its notes (``campaign_note``); the campaign, the
  entry and the device class are read back from there into their own columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ecoscore.record import RecordError, RunRecord, load_record

if TYPE_CHECKING:
    import pandas as pd

    from ecoscore.grading.scale import Scale

#: The columns of ``load``, in order.
COLUMNS = (
    "record_id",
    "workload",
    "workload_version",
    "model",
    "model_role",
    "model_sha256",
    "engine",
    "engine_version",
    "precision",
    "device",
    "device_kind",
    "device_class",
    "scenario",
    "batch_size",
    "valid",
    "energy_per_inference_j",
    "energy_ci_low_j",
    "energy_ci_high_j",
    "energy_cv",
    "net_energy_per_inference_j",
    "attributable_energy_per_inference_j",
    "power_w",
    "throughput_per_s",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "quality_metric",
    "quality",
    "quality_gate",
    "quality_passed",
    "grade",
    "grade_mark",
    "grade_provisional",
    "grade_reason",
    "boundary",
    "meter",
    "measurement",
    "assurance",
    "certifiable",
    "failed_rules",
    "quick",
    "repeats",
    "record_type",
    "started_utc",
    "campaign",
    "entry",
    "source",
)

_NOTE = re.compile(
    r"ecoscore campaign (?P<campaign>[A-Za-z0-9._-]+): entry (?P<entry>[0-9a-f]{64}) "
    r"on device class (?P<device_class>[A-Za-z0-9._-]+)"
)


def campaign_note(campaign: str, entry: str, device_class: str) -> str:
    """The notes a campaign gives the records it makes (read back by ``note_fields``)."""
    return f"ecoscore campaign {campaign}: entry {entry} on device class {device_class}"


def note_fields(notes: str | None) -> dict[str, str] | None:
    """campaign, entry and device_class from a record's notes, or None if not a campaign's."""
    m = _NOTE.search(notes or "")
    return m.groupdict() if m else None


def record_files(folder: Path) -> list[Path]:
    """The record files of a results folder: ``DIR/runs/*.json`` when DIR has a ``runs``
    folder (a results or campaign folder), else ``DIR/*.json``."""
    folder = Path(folder)
    runs = folder / "runs"
    base = runs if runs.is_dir() else folder
    return sorted(base.glob("*.json"))


def rows_of(record: RunRecord, source: str, scale: Scale) -> list[dict[str, Any]]:
    """The rows of one record: one per scenario."""
    from ecoscore.grading.grade import grade_record

    g = grade_record(record, scale)
    note = note_fields(record.provenance.notes) or {}
    rows = []
    for s in record.scenarios:
        e, ne, lat = s.energy_per_inference_j, s.net_energy_per_inference_j, s.latency
        rows.append(
            {
                "record_id": record.record_id,
                "workload": record.workload.name,
                "workload_version": record.workload.version,
                "model": record.model.name,
                "model_role": record.model.role,
                "model_sha256": record.model.sha256,
                "engine": record.engine.name,
                "engine_version": record.engine.version,
                "precision": record.engine.precision,
                "device": record.device.name,
                "device_kind": record.device.kind,
                "device_class": note.get("device_class"),
                "scenario": s.name,
                "batch_size": s.batch_size,
                "valid": s.valid,
                "energy_per_inference_j": e.median if e else None,
                "energy_ci_low_j": e.ci_low if e else None,
                "energy_ci_high_j": e.ci_high if e else None,
                "energy_cv": e.cv if e else None,
                "net_energy_per_inference_j": ne.median if ne else None,
                "attributable_energy_per_inference_j": (
                    s.attributable_energy_per_inference_j.median
                    if s.attributable_energy_per_inference_j
                    else None
                ),
                "power_w": s.power_w.median if s.power_w else None,
                "throughput_per_s": s.throughput_per_s.median,
                "latency_p50_ms": lat.p50_ms if lat else None,
                "latency_p90_ms": lat.p90_ms if lat else None,
                "latency_p99_ms": lat.p99_ms if lat else None,
                "quality_metric": record.quality.metric,
                "quality": record.quality.value,
                "quality_gate": g.quality_gate,
                "quality_passed": record.quality.passed,
                "grade": g.letter,
                "grade_mark": g.mark,
                "grade_provisional": g.provisional,
                "grade_reason": g.reason,
                "boundary": record.meter.boundary,
                "meter": record.meter.name,
                "measurement": record.meter.measurement,
                "assurance": g.assurance,
                "certifiable": g.certifiable,
                "failed_rules": " ".join(g.failed_rules),
                "quick": record.run.quick,
                "repeats": record.run.repeats,
                "record_type": record.record_type,
                "started_utc": record.provenance.started_utc,
                "campaign": note.get("campaign"),
                "entry": note.get("entry"),
                "source": source,
            }
        )
    return rows


def frame(records: Iterable[tuple[RunRecord, str]], scale: Scale) -> pd.DataFrame:
    """The table of records already loaded, given with their source."""
    import pandas as pd

    rows = [row for rec, source in records for row in rows_of(rec, source, scale)]
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df.attrs["scale"] = scale.version
    return df


def load(
    *paths: Path | str,
    scale: str | None = None,
    errors: Literal["raise", "collect"] = "raise",
) -> pd.DataFrame:
    """One row per record and scenario, from folders of records (``DIR/runs/*.json`` or
    ``DIR/*.json``) or record files.

    ``scale``: the scale version the grades come from (default: the current one).
    ``errors="raise"``: a file that is not a valid, intact record raises its error
    (``RecordError``, or ``IntegrityError`` for an edited record); ``"collect"``: it is left
    out and listed in ``df.attrs["errors"]`` as (file, message).
    """
    from ecoscore.grading.scale import DEFAULT_SCALE_VERSION, load_scale

    if errors not in ("raise", "collect"):
        raise ValueError(f"errors must be 'raise' or 'collect', not {errors!r}")
    scale_obj = load_scale(scale or DEFAULT_SCALE_VERSION)
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files.extend(record_files(path))
        elif path.exists():
            files.append(path)
        else:
            raise RecordError(f"{path}: no such file or folder")
    loaded: list[tuple[RunRecord, str]] = []
    problems: list[tuple[str, str]] = []
    for f in files:
        try:
            loaded.append((load_record(f), str(f)))
        except RecordError as e:
            if errors == "raise":
                raise
            problems.append((str(f), str(e)))
    df = frame(loaded, scale_obj)
    df.attrs["errors"] = problems
    return df
