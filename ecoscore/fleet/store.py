"""The campaign's result store, ``results/campaigns/<name>/``, and the check of every record
that arrives in it.

Layout: ``campaign.json`` (the campaign record) and ``runs/<record_id>.json`` (run records,
as ``ecoscore run`` writes them).

Rules enforced here:
- a record is stored only after its arrival check (``check_arrival``, the one place that
  calls the jury's verification): it parses as a run record of a supported schema, its
  content matches its record_id, ``ecoscore.jury.verify`` finds no integrity or input
  failure, and it answers the entry it was sent for (the entry hash in its notes, the model
  bytes, the workload, quick or not). A record below its quality gate is stored (it is a
  result) and its verdict is kept in the campaign record;
- what is done is read from the store itself: an entry is done when a verified record in
  ``runs/`` names it in its notes. Resumption is keyed by this content, never by a counter;
- a record in the store that fails its integrity check stops the campaign with its name
  (exit 5): it is never overwritten, and its entry is never silently run again.
"""

from __future__ import annotations

import json
from pathlib import Path

from ecoscore.errors import EXIT_INPUT, EXIT_INTEGRITY
from ecoscore.fleet.campaign_file import EntrySpec
from ecoscore.fleet.errors import CampaignIntegrityError
from ecoscore.record import (
    IntegrityError,
    RecordError,
    RunRecord,
    load_record,
    parse_record,
    save_record,
)
from ecoscore.results import note_fields


class ArrivalRejected(RecordError):
    """A record that came back from a node was not stored; the message says why."""


def campaign_folder(results: Path, name: str) -> Path:
    return Path(results) / "campaigns" / name


class CampaignStore:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @property
    def runs(self) -> Path:
        return self.folder / "runs"

    def done(self) -> dict[str, str]:
        """entry hash -> record_id of every verified record in the store."""
        out: dict[str, str] = {}
        if not self.runs.is_dir():
            return out
        for f in sorted(self.runs.glob("*.json")):
            try:
                rec = load_record(f)
            except IntegrityError as e:
                raise CampaignIntegrityError(
                    f"{e}; the campaign store holds an altered record: restore or remove it "
                    "before resuming"
                ) from None
            note = note_fields(rec.provenance.notes)
            if note is not None:
                out.setdefault(note["entry"], rec.record_id)
        return out

    def save(self, record: RunRecord) -> Path:
        return save_record(record, self.folder)


def check_arrival(data: bytes, spec: EntrySpec, source: str) -> tuple[RunRecord, str]:
    """The record a node sent for ``spec``, verified; and the verification's verdict."""
    from ecoscore.jury.compare import Entry
    from ecoscore.jury.verify import verify_entry

    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArrivalRejected(f"{source}: not JSON: {e}") from None
    record = parse_record(doc, source)  # schema and integrity (RecordError, IntegrityError)
    verdict = verify_entry(
        Entry(source=source, submission=spec.campaign, record=record), None, False
    )
    if verdict.code in (EXIT_INTEGRITY, EXIT_INPUT):
        raise ArrivalRejected(f"{source}: {verdict.message}")
    note = note_fields(record.provenance.notes)
    problems = []
    if note is None or note["entry"] != spec.entry:
        problems.append("its notes do not name this entry")
    if record.model.sha256 != spec.model.sha256:
        problems.append(f"model sha256 {record.model.sha256[:12]} is not the one sent")
    if record.workload.name != spec.workload:
        problems.append(f"workload {record.workload.name!r} is not {spec.workload!r}")
    if record.run.quick != spec.quick:
        problems.append("quick or not, it is not what the entry asked")
    if problems:
        raise ArrivalRejected(
            f"{source}: the record does not answer its entry: {'; '.join(problems)}"
        )
    return record, verdict.message
