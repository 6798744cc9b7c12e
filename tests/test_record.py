import json
import os

import pytest

from ecoscore.files import write_atomic
from ecoscore.record import (
    IntegrityError,
    RecordError,
    json_schema,
    load_record,
    save_record,
)


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    from tests.run_helpers import quick_record

    return quick_record(tmp_path_factory.mktemp("rec"))


def test_round_trip_and_id_is_content_hash(record, tmp_path):
    path = save_record(record, tmp_path)
    assert path.name == f"{record.record_id}.json"
    assert path.parent.name == "runs"
    again = load_record(path)
    assert again == record
    assert again.content_sha256() == record.record_id


def test_hand_edited_number_fails_integrity(record, tmp_path):
    path = save_record(record, tmp_path)
    doc = json.loads(path.read_text())
    doc["scenarios"][0]["energy_per_inference_j"]["median"] *= 0.5
    path.write_text(json.dumps(doc))
    with pytest.raises(IntegrityError, match="edited after the run"):
        load_record(path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("quality"), "quality"),
        (lambda d: d.update(schema_version="3.0"), "schema_version '3.0' is not supported"),
        (lambda d: d.update(schema_version="0.9"), "schema_version '0.9' is not supported"),
        (lambda d: d.pop("schema_version"), "missing field 'schema_version'"),
        (lambda d: d.update(surprise=1), "surprise"),
    ],
)
def test_bad_records_name_file_and_field(record, tmp_path, mutate, message):
    path = save_record(record, tmp_path)
    doc = json.loads(path.read_text())
    mutate(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(RecordError, match=message) as exc:
        load_record(path)
    assert str(path) in str(exc.value)


def test_malformed_and_huge_files(tmp_path, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(RecordError, match="malformed JSON at line 1"):
        load_record(bad)
    monkeypatch.setattr("ecoscore.record.MAX_RECORD_BYTES", 10)
    big = tmp_path / "big.json"
    big.write_text("{}" * 10)
    with pytest.raises(RecordError, match="larger than a run record"):
        load_record(big)
    with pytest.raises(RecordError, match="cannot read"):
        load_record(tmp_path / "absent.json")


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    write_atomic(target, b"old")

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_exported_schema_is_current(repo):
    on_disk = json.loads((repo / "docs" / "record.schema.json").read_text())
    assert on_disk == json_schema(), "regenerate with: python -m ecoscore.record_schema"
