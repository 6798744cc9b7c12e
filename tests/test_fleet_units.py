"""Fleet campaigns without a cluster: the campaign file and its entries, content-addressed
blobs, one entry run on a node (the session path), the arrival check, the campaign record
and its signature, the results table, ``node start``'s command, and the message when Ray
is not installed."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecoscore.cli import app
from ecoscore.errors import EXIT_INPUT, EXIT_INTEGRITY, EXIT_USAGE
from ecoscore.fleet.blobs import BlobIntegrityError, BlobRef, NodeCache, blob_of, pack, tree_hash
from ecoscore.fleet.campaign_file import plan_campaign
from ecoscore.fleet.campaign_record import (
    CampaignRecord,
    EntryRecord,
    check_campaign_signature,
    load_campaign_record,
    save_campaign_record,
    sign_campaign,
)
from ecoscore.fleet.errors import CampaignFileError, CampaignIntegrityError
from ecoscore.fleet.store import ArrivalRejected, check_arrival
from ecoscore.record import IntegrityError, content_hash, save_record
from ecoscore.results import campaign_note, load, note_fields
from tests.onnx_models import linear_classifier
from tests.record_factory import make_record

runner = CliRunner()

CAMPAIGN = """
schema_version = "1.0"
name = "two-by-two"
[devices.board-a]
[devices.board-b]
meter = "estimate"
[defaults]
repeats = 1
settings = { threads = 1 }
[[entries]]
workload = "vision-digits"
models = ["reference", "mine.onnx"]
[[entries]]
workload = "nlp-intent"
models = ["reference", "baseline"]
"""


def write_campaign(folder: Path, text: str = CAMPAIGN) -> Path:
    linear_classifier(folder / "mine.onnx")
    path = folder / "campaign.toml"
    path.write_text(text)
    return path


# -- the campaign file ------------------------------------------------------------------


def test_a_campaign_expands_to_entries_named_by_their_content(tmp_path: Path) -> None:
    plan = plan_campaign(write_campaign(tmp_path), quick=True)
    assert len(plan.entries) == 2 * 2 * 2
    assert len({e.spec.entry for e in plan.entries}) == 8
    assert {c: len(v) for c, v in plan.by_class().items()} == {"board-a": 4, "board-b": 4}
    assert all(e.spec.quick and e.spec.repeats == 1 for e in plan.entries)
    assert all(e.spec.engine_settings == {"threads": 1} for e in plan.entries)
    assert {e.spec.meter for e in plan.entries if e.spec.device_class == "board-b"} == {"estimate"}
    roles = sorted({(e.spec.workload, e.spec.model_role) for e in plan.entries})
    assert roles == [
        ("nlp-intent", "baseline"),
        ("nlp-intent", "reference"),
        ("vision-digits", "reference"),
        ("vision-digits", "user"),
    ]
    # the notes a node gives the record name the campaign, the entry and the class
    spec = plan.entries[0].spec
    assert note_fields(spec.notes) == {
        "campaign": "two-by-two",
        "entry": spec.entry,
        "device_class": spec.device_class,
    }


def test_entry_identity_ignores_order_and_duplicates(tmp_path: Path) -> None:
    a = plan_campaign(write_campaign(tmp_path), quick=True)
    swapped = CAMPAIGN.replace(
        'models = ["reference", "baseline"]', 'models = ["baseline", "reference"]'
    )
    twice = swapped + '\n[[entries]]\nworkload = "nlp-intent"\nmodels = ["baseline"]\n'
    (tmp_path / "b.toml").write_text(twice)
    b = plan_campaign(tmp_path / "b.toml", quick=True)
    assert {e.spec.entry for e in a.entries} == {e.spec.entry for e in b.entries}
    assert b.duplicates == 2  # the baseline entry, written twice, on two classes
    # quick or not is part of what an entry is
    full = plan_campaign(write_campaign(tmp_path), quick=False)
    assert not {e.spec.entry for e in a.entries} & {e.spec.entry for e in full.entries}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CAMPAIGN.replace('"1.0"', '"9.0"'), "schema_version '9.0' is not supported"),
        (CAMPAIGN.replace('name = "two-by-two"', 'name = "Two By Two"'), "name:"),
        (
            CAMPAIGN + '\n[[entries]]\nworkload = "nlp-intent"\ndevices = ["jetson"]\n',
            "entries.2.devices",
        ),
        (CAMPAIGN.replace("repeats = 1", "repeats = 0"), "defaults.repeats"),
        (CAMPAIGN.replace("[defaults]", "[defaults]\nturbo = true"), "defaults.turbo: unknown key"),
        (CAMPAIGN.replace('"mine.onnx"', '"missing.onnx"'), "entries.0: model 'missing.onnx'"),
        (
            CAMPAIGN.replace('workload = "nlp-intent"', 'workload = "nlp-nope"'),
            "entries.1: unknown workload",
        ),
        (CAMPAIGN.replace("threads = 1", "turbo = 1"), "entries.0: "),
    ],
)
def test_a_bad_campaign_file_is_one_line_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write_campaign(tmp_path, text)
    with pytest.raises(CampaignFileError) as err:
        plan_campaign(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)
    assert err.value.exit_code == EXIT_INPUT


# -- blobs ------------------------------------------------------------------------------


def test_a_blob_reaches_a_node_once_and_is_checked(tmp_path: Path) -> None:
    model = linear_classifier(tmp_path / "m.onnx")
    ref = blob_of(model)
    cache = NodeCache(tmp_path / "cache")
    assert not cache.has(ref)
    with pytest.raises(BlobIntegrityError):
        cache.store(ref, pack(model, ref) + b"x")
    assert not cache.has(ref) and not (tmp_path / "cache" / "blobs").exists()
    path = cache.store(ref, pack(model, ref))
    assert path.read_bytes() == model.read_bytes() and path.name == "m.onnx"
    assert cache.has(ref)


def test_a_folder_travels_as_a_tree_hashed_by_content(tmp_path: Path) -> None:
    src = tmp_path / "data"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_text("text,label\nhi,greet\n")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)))
    ref = blob_of(src)
    assert ref.kind == "tree" and ref.size_bytes == 20 + 256
    out = NodeCache(tmp_path / "cache").store(ref, pack(src, ref))
    assert (out / "a.csv").read_text() == "text,label\nhi,greet\n"
    assert (out / "sub" / "b.bin").read_bytes() == bytes(range(256))
    assert blob_of(out).sha256 == ref.sha256
    (src / "a.csv").write_text("changed")
    assert blob_of(src).sha256 != ref.sha256


def test_a_tree_with_a_path_outside_it_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    ref = BlobRef(sha256=tree_hash([]), name="d", kind="tree", size_bytes=2)
    with pytest.raises(BlobIntegrityError, match="refused"):
        NodeCache(tmp_path / "cache").store(ref, buf.getvalue())
    assert not (tmp_path / "escape.txt").exists()


# -- one entry on a node, without Ray ----------------------------------------------------


def test_an_entry_runs_through_the_session_path_and_fetches_its_model_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecoscore.fleet.node import run_entry

    monkeypatch.setenv("ECOSCORE_FLEET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ECOSCORE_FLEET_DEVICE", "board-b")
    plan = plan_campaign(write_campaign(tmp_path), quick=True)
    planned = next(
        e for e in plan.entries if e.spec.model_role == "user" and e.spec.device_class == "board-b"
    )
    fetched: list[str] = []

    def fetch(sha: str) -> bytes:
        fetched.append(sha)
        return pack(planned.model_path, planned.spec.model)

    events = list(run_entry(planned.spec, fetch, "node-1"))
    assert [ev["kind"] for ev in events] == ["started", "record"]
    assert events[0]["advertised_device"] == "board-b" and events[0]["node_id"] == "node-1"
    assert events[1]["blobs"] == {planned.spec.model.sha256: "fetched"}
    record, verdict = check_arrival(events[1]["record_json"], planned.spec, "test")
    assert record.model.sha256 == planned.spec.model.sha256
    assert record.meter.name == "codecarbon-estimate" and record.meter.measurement == "ESTIMATED"
    assert record.run.quick and record.run.repeats == 1
    assert record.provenance.command_line[:3] == ["ecoscore", "campaign", "run"]
    assert "not eligible" in verdict  # the random model is below the gate: stored, flagged
    again = list(run_entry(planned.spec, fetch, "node-1"))
    assert again[1]["blobs"] == {planned.spec.model.sha256: "cached"}
    assert fetched == [planned.spec.model.sha256]
    # a reference model: the node uses its own shipped file with the same bytes
    ref = next(
        e
        for e in plan.entries
        if e.spec.model_role == "reference" and e.spec.device_class == "board-b"
    )
    ev = list(run_entry(ref.spec, fetch, "node-1"))
    assert ev[1]["blobs"] == {ref.spec.model.sha256: "shipped"}
    assert fetched == [planned.spec.model.sha256]


def test_an_entry_that_cannot_run_says_why_without_killing_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecoscore.fleet.node import run_entry

    monkeypatch.setenv("ECOSCORE_FLEET_CACHE", str(tmp_path / "cache"))
    plan = plan_campaign(write_campaign(tmp_path), quick=True)
    spec = plan.entries[0].spec.model_copy(update={"meter": "jetson"})  # no Jetson here
    events = list(run_entry(spec, lambda sha: b"", "node-1"))
    assert events[-1]["kind"] == "error"
    assert events[-1]["exit_code"] == 4 and "jetson" in events[-1]["error"].lower()


# -- the arrival check -------------------------------------------------------------------


def _record_for(spec) -> bytes:  # noqa: ANN001
    rec = make_record()
    doc = rec.model_dump(mode="json")
    doc["provenance"]["notes"] = spec.notes
    doc["model"]["sha256"] = spec.model.sha256
    doc["workload"]["name"] = spec.workload
    doc["run"]["quick"] = spec.quick
    doc["record_id"] = content_hash(doc)
    return json.dumps(doc).encode()


def test_a_record_that_does_not_answer_its_entry_or_was_altered_is_refused(tmp_path: Path) -> None:
    plan = plan_campaign(write_campaign(tmp_path), quick=True)
    spec = next(e.spec for e in plan.entries if e.spec.workload == "vision-digits")
    good = _record_for(spec)
    record, _ = check_arrival(good, spec, "node x")
    assert record.provenance.notes == spec.notes
    other = next(
        e.spec
        for e in plan.entries
        if e.spec.entry != spec.entry and e.spec.workload == "vision-digits"
    )
    with pytest.raises(ArrivalRejected, match="does not answer its entry"):
        check_arrival(good, other, "node x")
    doc = json.loads(good)
    doc["quality"]["value"] = 1.0
    with pytest.raises(IntegrityError):
        check_arrival(json.dumps(doc).encode(), spec, "node x")
    with pytest.raises(ArrivalRejected, match="not JSON"):
        check_arrival(b"{", spec, "node x")


# -- the campaign record -----------------------------------------------------------------


def _campaign_record() -> CampaignRecord:
    return CampaignRecord(
        campaign="c1",
        entries=[
            EntryRecord(
                entry="e" * 64, device_class="board-a", workload="vision-digits", model_name="m",
                model_sha256="0" * 64, data_sha256=None, engine="onnxruntime", engine_settings={},
                engine_device="cpu", meter="auto", repeats=1, quick=True, replicate=0,
                state="failed", failure="lost twice",
            )
        ],
    )  # fmt: skip


def test_the_campaign_record_is_checked_on_load_and_lists_failures(tmp_path: Path) -> None:
    path = save_campaign_record(_campaign_record(), tmp_path)
    rec = load_campaign_record(tmp_path)
    assert rec.record_id == rec.content_sha256()
    assert [(f.entry[:3], f.reason) for f in rec.failures] == [("eee", "lost twice")]
    doc = json.loads(path.read_text())
    doc["entries"][0]["state"] = "done"
    path.write_text(json.dumps(doc))
    with pytest.raises(CampaignIntegrityError) as err:
        load_campaign_record(path)
    assert err.value.exit_code == EXIT_INTEGRITY


def test_a_campaign_record_is_signed_under_its_own_domain(tmp_path: Path) -> None:
    from ecoscore.jury.signing import check_signature, generate_key_pair, load_private_key

    key_path, _, _ = generate_key_pair(tmp_path / "lab")
    key = load_private_key(key_path)
    save_campaign_record(_campaign_record(), tmp_path)
    signed = sign_campaign(load_campaign_record(tmp_path), key)
    save_campaign_record(signed, tmp_path, keep_signature=True)
    again = load_campaign_record(tmp_path)  # the signature is outside the content hash
    assert check_campaign_signature(again, None).state == "unchecked"
    # the same signature on a run record with the same id does not verify: other domain
    run = make_record().model_copy(
        update={"record_id": again.record_id, "signature": again.signature}
    )
    assert check_signature(run, None).state == "invalid"
    # a rewrite (a resumed run) drops the signature, which no longer covers the content
    save_campaign_record(again, tmp_path)
    assert load_campaign_record(tmp_path).signature is None
    # CLI: sign, then verify with the key trusted and required
    save_campaign_record(_campaign_record(), tmp_path)
    res = runner.invoke(app, ["campaign", "sign", str(tmp_path), "--key", str(key_path)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["campaign", "verify", str(tmp_path), "--require-signature"])
    assert res.exit_code == 0, res.output
    assert "valid signature" in res.output


# -- results.load -------------------------------------------------------------------------


def test_results_load_gives_one_row_per_record_and_scenario(tmp_path: Path) -> None:
    rec = make_record()
    doc = rec.model_dump(mode="json")
    doc["provenance"]["notes"] = campaign_note("c1", "a" * 64, "board-a")
    doc["record_id"] = content_hash(doc)
    from ecoscore.record import parse_record

    save_record(parse_record(doc, "x"), tmp_path)
    save_record(make_record(workload="nlp-intent"), tmp_path)
    df = load(tmp_path)
    assert len(df) == sum(len(r.scenarios) for r in (rec, make_record(workload="nlp-intent")))
    assert set(df["scenario"]) == {s.name for s in rec.scenarios}
    row = df[(df["campaign"] == "c1") & (df["scenario"] == "single_stream")].iloc[0]
    assert row["device_class"] == "board-a" and row["entry"] == "a" * 64
    single = rec.scenario("single_stream")
    assert single is not None and single.energy_per_inference_j is not None
    assert row["energy_per_inference_j"] == pytest.approx(single.energy_per_inference_j.median)
    assert row["grade"] in ("A", "B", "C", "D", "E")
    assert row["assurance"] == "self-measured"  # derived by the rules, not the record's claim
    assert row["certifiable"] == (not rec.run.quick) and isinstance(row["failed_rules"], str)
    assert df.attrs["scale"] == "2026.1" and df.attrs["errors"] == []


def test_results_load_never_skips_a_bad_file_silently(tmp_path: Path) -> None:
    save_record(make_record(), tmp_path)
    (tmp_path / "runs" / "broken.json").write_text("{")
    with pytest.raises(Exception, match="broken.json"):
        load(tmp_path)
    df = load(tmp_path, errors="collect")
    assert len(df) == len(make_record().scenarios)
    assert [Path(f).name for f, _ in df.attrs["errors"]] == ["broken.json"]


# -- node start and the missing extra -----------------------------------------------------


def test_node_start_checks_the_meter_and_advertises_its_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fake_sysfs import RaplZone, make_powercap

    make_powercap(tmp_path, [RaplZone("intel-rapl:0", "package-0")])
    monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(tmp_path))
    res = runner.invoke(
        app,
        ["node", "start", "--device", "jetson-orin-nx", "--address", "10.1.2.3:6379",
         "--cache", str(tmp_path / "c"), "--dry-run"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "meter: rapl (MEASURED) at boundary cpu-package" in res.output
    assert '--resources={"device:jetson-orin-nx": 1}' in res.output.replace("'", "")
    assert "--address=10.1.2.3:6379" in res.output and "--disable-usage-stats" in res.output
    assert "ECOSCORE_FLEET_DEVICE=jetson-orin-nx" in res.output
    bad = runner.invoke(app, ["node", "start", "--device", "Jetson Orin", "--head", "--dry-run"])
    assert bad.exit_code == EXIT_USAGE and "device class name" in bad.output


def test_campaign_run_without_ray_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the fleet extra were not installed
    res = runner.invoke(app, ["campaign", "run", str(write_campaign(tmp_path))])
    assert res.exit_code == EXIT_USAGE
    assert "pip install 'ecoscore[fleet]'" in res.output
    assert len([ln for ln in res.output.splitlines() if ln.strip()]) == 1
