"""A dishonest applicant's records, bundles and models: each is refused or flagged by a named
rule, and compare still processes the other submissions (docs/trust.md).

Hostile records are built from genuine-looking ones, with their record_id recomputed and a
signature by the applicant's own trusted key, as an applicant could do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from typer.testing import CliRunner

from ecoscore.checks import check_record
from ecoscore.cli import app
from ecoscore.grading.grade import grade_record
from ecoscore.grading.scale import load_scale
from ecoscore.jury.bundle import write_bundle
from ecoscore.jury.compare import build_comparison, iter_entries
from ecoscore.jury.policy import evaluate, load_policy
from ecoscore.jury.signing import generate_key_pair, load_private_key, sign_record
from ecoscore.jury.trust import trusted_keys_toml
from ecoscore.record import RunRecord, load_record, save_record
from tests.onnx_models import linear_classifier
from tests.record_factory import K, make_record

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]


def forged(record: RunRecord, **sections: dict[str, Any]) -> RunRecord:
    """``record`` with sections edited, its record_id recomputed (as an applicant can)."""
    doc = record.model_dump(mode="json")
    for section, fields in sections.items():
        doc[section] = {**doc[section], **fields} if isinstance(doc[section], dict) else fields
    doc.pop("record_id")
    doc.pop("signature", None)
    return RunRecord.model_validate(doc).with_id()


def rules_failed(record: RunRecord) -> set[str]:
    return set(check_record(record).failed_rules())


@pytest.fixture
def applicant(tmp_path: Path) -> tuple[object, str]:
    key, _, b64 = generate_key_pair(tmp_path / "applicant")
    return load_private_key(key), b64


def verify(*paths: Path, keys: Path | None = None) -> Any:
    args = ["verify", *map(str, paths)]
    if keys is not None:
        args += ["--trusted-keys", str(keys)]
    return CliRunner().invoke(app, args)


# -- records --------------------------------------------------------------------------------


def test_a_hand_written_grade_a_record_is_refused(tmp_path: Path, applicant) -> None:
    """Hand-made: summaries that say A over windows that say C, signed by the applicant's own
    trusted key. The signature verifies; the numbers do not."""
    key, b64 = applicant
    genuine = make_record()  # class C
    single = genuine.scenarios[0].model_dump(mode="json")
    single["energy_per_inference_j"]["median"] /= 20  # an A, without touching the windows
    fake = sign_record(forged(genuine, scenarios=[single]), key)
    path = save_record(fake, tmp_path)
    keys = tmp_path / "keys.toml"
    keys.write_text(trusted_keys_toml("Applicant", b64))
    res = verify(path, keys=keys)
    assert res.exit_code == 7, res.output
    assert "[summaries-match-windows] single_stream energy_per_inference_j.median" in res.output
    grade = grade_record(fake, load_scale())
    assert grade.letter is None and "summaries-match-windows" in grade.failed_rules


def test_a_record_written_from_scratch_names_no_known_meter(applicant) -> None:
    fake = forged(make_record(), meter={"config": None, "name": "wattmeter-3000"})
    assert "estimate-is-estimated" in rules_failed(fake)
    assert "MEASURED by meter 'wattmeter-3000'" in check_record(fake).invalid[0].message


def test_a_lowered_gate_inside_the_record_is_ignored(tmp_path: Path) -> None:
    poor = make_record(quality=0.31)
    fake = forged(
        poor,
        workload={"quality_gate": 0.30},
        quality={"gate": 0.30, "passed": True},
    )
    assert {"workload-definition", "quality-consistent"} <= rules_failed(fake)
    grade = grade_record(fake, load_scale())
    assert grade.letter is None and grade.quality_gate == 0.95
    path = save_record(fake, tmp_path)
    res = verify(path)
    assert res.exit_code == 7 and "quality gate 0.3 differs" in res.output
    comp = build_comparison(iter_entries([path]), load_scale())
    assert comp.rows[0].rank is None and "workload-definition" in comp.rows[0].flags


def test_a_made_up_workload_version_is_unverifiable(tmp_path: Path) -> None:
    fake = forged(
        make_record(),
        workload={"version": "9.9", "definition_sha256": "1" * 64, "eval_data_sha256": "2" * 64},
    )
    report = check_record(fake)
    assert report.invalid[0].rule == "workload-known"
    assert report.invalid[0].message.startswith("unverifiable: the record's workload")
    assert grade_record(fake, load_scale()).letter is None
    res = verify(save_record(fake, tmp_path))
    assert res.exit_code == 7 and "[workload-known] unverifiable" in res.output


def test_made_up_data_checksums_are_caught() -> None:
    fake = forged(make_record(), workload={"eval_data_sha256": "2" * 64})
    report = check_record(fake)
    assert "reference-data" in report.failed_rules() and not report.certifiable
    fake = forged(make_record(), workload={"definition_sha256": "1" * 64})
    assert "workload-definition" in rules_failed(fake)


def test_an_estimate_relabelled_measured_is_refused() -> None:
    estimate = make_record(measurement="ESTIMATED")
    fake = forged(estimate, meter={"measurement": "MEASURED", "uncertainty_rel": 0.05})
    report = check_record(fake)
    assert report.invalid[0].rule == "estimate-is-estimated"
    assert report.assurance == "estimated"
    assert grade_record(fake, load_scale()).letter is None


def test_a_boundary_the_meter_cannot_report_is_refused() -> None:
    fake = forged(make_record(), meter={"boundary": "wall"})  # RAPL cannot measure the wall
    assert "boundary-matches-meter" in rules_failed(fake)


def test_a_summary_that_contradicts_its_windows_is_refused() -> None:
    genuine = make_record()
    single = genuine.scenarios[0].model_dump(mode="json")
    single["power_w"]["ci_high"] *= 1.5
    single["throughput_per_s"]["n"] = 9
    fake = forged(genuine, scenarios=[single])
    messages = [f.message for f in check_record(fake).invalid]
    assert any("power_w.ci_high" in m for m in messages)
    assert any("throughput_per_s.n 9" in m for m in messages)


def test_a_window_with_too_few_observed_sensor_updates_cannot_be_valid() -> None:
    genuine = make_record()
    single = genuine.scenarios[0].model_dump(mode="json")
    single["windows"][1]["sensor_updates"] = 12  # a window too short for its sensor
    fake = forged(genuine, scenarios=[single, *genuine.model_dump(mode="json")["scenarios"][1:]])
    messages = [f.message for f in check_record(fake).invalid]
    assert messages == [
        "single_stream window 2: valid with 12 observed sensor updates (a full run's window "
        "needs 100)"
    ]
    assert "sensor-updates-observed" not in rules_failed(make_record(quick=True))
    from ecoscore import checks
    from ecoscore.runners.meters import base

    assert checks.MIN_SENSOR_UPDATES == base.MIN_SENSOR_UPDATES  # one figure, two layers


def test_non_finite_numbers_are_refused() -> None:
    fake = forged(make_record(), idle={"power_w": float("inf")})
    assert "finite-numbers" in rules_failed(fake)


def test_quick_runs_and_too_few_windows_never_certify() -> None:
    assert rules_failed(make_record(quick=True)) == {"full-run"}
    assert rules_failed(make_record(repeats=2)) == {"three-valid-windows"}
    assert check_record(make_record()).certifiable


def test_a_self_reported_record_may_not_claim_more(tmp_path: Path) -> None:
    csv = make_record(boundary="wall")  # an external power log: self-reported
    assert check_record(csv).assurance == "self-reported" and not check_record(csv).certifiable
    fake = forged(csv, assurance="self-measured")
    report = check_record(fake)
    assert "claims self-measured" in " ".join(f.message for f in report.findings)
    assert report.assurance == "self-reported"


# -- runs -----------------------------------------------------------------------------------


def test_a_run_through_a_fake_sysfs_tree_is_recorded_and_never_certifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fake_sysfs import ClockedCounters, RaplZone, make_powercap

    root = tmp_path / "sysroot"
    paths = make_powercap(root, [RaplZone("intel-rapl:0", "package-0")])
    (root / "proc").mkdir()
    (root / "proc" / "stat").symlink_to("/proc/stat")
    monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(root))
    ClockedCounters().add(paths["intel-rapl:0"], 10.0, 262_143_328_850).install(monkeypatch)
    model = REPO / "models/vision_digits/digits_logreg.onnx"
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        ["run", "-w", "vision-digits", "--model", str(model), "--meter", "rapl", "--quick",
         "--repeats", "3", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    (path,) = (out / "runs").glob("*.json")
    rec = load_record(path)
    assert rec.meter.measurement == "MEASURED" and rec.provenance.sysfs_root == str(root)
    report = check_record(rec)
    assert "not-redirected" in report.failed_rules()
    res = CliRunner().invoke(app, ["score", str(path), "--json"])
    grade = json.loads(res.stdout)["results"][0]["grade"]
    assert grade["certifiable"] is False and "not-redirected" in grade["failed_rules"]


def _cheating_model(path: Path) -> Path:
    """The digits baseline, except that a batch of one gets the same answer every time."""
    model = onnx.load(str(REPO / "models/vision_digits/digits_logreg.onnx"))
    out = model.graph.output[0]
    real = out.name + "_real"
    for node in model.graph.node:
        node.output[:] = [real if o == out.name else o for o in node.output]
    model.graph.initializer.extend(
        [
            numpy_helper.from_array(np.eye(10, dtype=np.float32)[:1], "constant_answer"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        ]
    )
    model.graph.node.extend(
        [
            helper.make_node("Shape", ["input"], ["shape"], start=0, end=1),
            helper.make_node("Equal", ["shape", "one"], ["batch_is_one"]),
            helper.make_node("Where", ["batch_is_one", "constant_answer", real], [out.name]),
        ]
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_a_model_that_answers_differently_at_batch_one_is_caught(tmp_path: Path) -> None:
    model = _cheating_model(tmp_path / "cheat.onnx")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        ["run", "-w", "vision-digits", "--model", str(model), "--meter", "estimate", "--quick",
         "--repeats", "1", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rec = load_record(next((out / "runs").glob("*.json")))
    assert rec.quality.batch_size == 1 and rec.quality.value < 0.2  # graded: batch 1
    bc = rec.quality.batch_consistency
    assert bc is not None and not bc.consistent and bc.disagreeing == bc.samples == 539
    assert "quality-on-what-is-timed" in rules_failed(rec)
    grade = grade_record(rec, load_scale())
    assert grade.letter is None


def test_weights_in_external_data_are_part_of_the_model_identity(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    base = linear_classifier(tmp_path / "plain.onnx", seed=3)
    proto = onnx.load(str(base))
    onnx.save(
        proto,
        str(folder / "m.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="m.onnx.data",
        size_threshold=0,
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        ["run", "-w", "vision-digits", "--model", str(folder / "m.onnx"), "--meter", "estimate",
         "--quick", "--repeats", "1", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    path = next((out / "runs").glob("*.json"))
    rec = load_record(path)
    assert [f.name for f in rec.model.files] == ["m.onnx", "m.onnx.data"]
    assert "model-identity" not in rules_failed(rec)
    # other weights, same graph file: another model
    data = bytearray((folder / "m.onnx.data").read_bytes())
    data[:4] = b"\x00\x00\x80\x3f"
    (folder / "m.onnx.data").write_bytes(bytes(data))
    res = CliRunner().invoke(
        app, ["reproduce", str(path), "--model", str(folder / "m.onnx"), "--out", str(tmp_path)]
    )
    assert res.exit_code == 3 and "over every file it loads" in res.output


def test_a_plugin_record_with_the_callers_quality_is_self_reported(pytester, tmp_path) -> None:
    """write_record() with a quality figure the caller supplies and a power log written by
    hand: the record is self-reported, and a jury requiring self-measured refuses it."""
    log = tmp_path / "power.csv"
    import time

    now = time.time()
    samples = np.arange(now - 5, now + 300, 0.01)  # a dense log around now, written by hand
    log.write_text("timestamp,power_w\n" + "".join(f"{t:.3f},1.0\n" for t in samples))
    model = REPO / "models/vision_digits/digits_logreg.onnx"
    pytester.makepyfile(
        test_suite=f"""
import numpy as np
def test_it(eco_benchmark):
    eco_benchmark(np.sum, np.ones(10))
    print("RECORD", eco_benchmark.write_record("vision-digits", {str(model)!r}, 0.999))
"""
    )
    res = pytester.runpytest_subprocess(
        "-s", "-p", "no:cacheprovider", f"--eco-meter=csv:{log}", "--eco-idle-s=0",
        "--eco-min-window-s=0.05", f"--eco-record-dir={tmp_path / 'rec'}",
        "--benchmark-min-rounds=3",
    )  # fmt: skip
    assert res.ret == 0, res.stdout.str()
    path = next((tmp_path / "rec" / "runs").glob("*.json"))
    rec = load_record(path)
    assert rec.assurance == "self-reported" and rec.quality.computed_by == "caller"
    assert check_record(rec).assurance == "self-reported"
    policy = tmp_path / "policy.toml"
    policy.write_text('[policy]\nmin_assurance = "self-measured"\nmeasured_only = false\n')
    comp = build_comparison(iter_entries([path]), load_scale())
    (verdict,) = evaluate(comp, load_policy(policy))
    assert not verdict.passed
    assert any("assurance self-reported" in r for r in verdict.reasons)


# -- bundles and submissions -------------------------------------------------------------------


def _bundle(folder: Path, records: list[RunRecord], key: object, category: str = "sme") -> Path:
    folder.mkdir(parents=True)
    paths = [save_record(r, folder / "recs") for r in records]
    return write_bundle(paths, folder / "submission.zip", applicant=folder.name,
                        category=category, key=key)  # fmt: skip


def test_submissions_are_identities_and_duplicates_count_once(tmp_path: Path) -> None:
    keys = {}
    for name in ("acme", "bigco"):
        k, _, b64 = generate_key_pair(tmp_path / name)
        keys[name] = (load_private_key(k), b64)
    acme_rec = sign_record(make_record(energy_per_inference_j=8e-5 * K), keys["acme"][0])
    big_rec = sign_record(make_record(model_name="big"), keys["bigco"][0])
    # two applicants' bundles, both named submission.zip; bigco slips acme's signed record in
    acme = _bundle(tmp_path / "acme", [acme_rec], keys["acme"][0])
    bigco = _bundle(tmp_path / "bigco", [big_rec, acme_rec], keys["bigco"][0])
    # and the same record given three times (twice more, as loose files)
    loose = [save_record(acme_rec, tmp_path / f"copy{i}") for i in range(2)]
    policy = tmp_path / "policy.toml"
    policy.write_text(
        "[policy]\n"
        + "\n".join(trusted_keys_toml(n, b) for n, (_, b) in keys.items()).replace(
            "[[keys]]", "\n[[keys]]"
        )
    )
    pol = load_policy(policy)
    comp = build_comparison(iter_entries([acme, bigco, *loose]), load_scale(), pol.trusted)
    submissions = {r.entry.submission for r in comp.rows}
    assert len(submissions) == 4  # two bundles of the same name, two files
    by_source = {r.entry.source: r for r in comp.rows}
    slipped = by_source[f"{bigco}:records/{acme_rec.record_id}.json"]
    assert {"signed-by-other-key", "duplicate"} <= set(slipped.flags)
    dups = [r for r in comp.rows if r.record.record_id == acme_rec.record_id]
    assert len(dups) == 4 and sum(r.duplicate_of is None for r in dups) == 1
    ranked = [r for r in comp.rows if r.rank is not None]
    assert len(ranked) == 2 and {r.ranked_among for r in ranked} == {2}
    verdicts = {v.submission: v for v in evaluate(comp, pol)}
    acme_v = next(v for k, v in verdicts.items() if k.startswith(f"{acme} ["))
    bigco_v = next(v for k, v in verdicts.items() if k.startswith(f"{bigco} ["))
    assert acme_v.passed, acme_v.reasons
    assert not bigco_v.passed
    assert any("not by the bundle's signer" in r for r in bigco_v.reasons)
    loose_v = [v for k, v in verdicts.items() if "copy" in k]
    assert all(any("duplicate of" in r for r in v.reasons) for v in loose_v)
    assert all(any("no graded run" in r for r in v.reasons) for v in loose_v)


def test_verify_flags_a_record_signed_by_another_key_than_its_bundle(tmp_path: Path) -> None:
    a, _, _ = generate_key_pair(tmp_path / "a")
    b, _, _ = generate_key_pair(tmp_path / "b")
    rec = sign_record(make_record(), load_private_key(a))
    bundle = _bundle(tmp_path / "sub", [rec], load_private_key(b))
    res = verify(bundle)
    assert res.exit_code == 5 and "not by the key that signed its bundle" in res.output


def test_an_altered_manifest_signature_is_refused(tmp_path: Path) -> None:
    import zipfile

    a, _, _ = generate_key_pair(tmp_path / "a")
    bundle = _bundle(tmp_path / "sub", [make_record()], load_private_key(a))
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(bundle) as z, zipfile.ZipFile(tampered, "w") as out:
        for info in z.infolist():
            data = z.read(info)
            if info.filename == "manifest.json":
                doc = json.loads(data)
                doc["category"] = "micro"  # a cheaper category, after signing
                data = json.dumps(doc, indent=2).encode() + b"\n"
            out.writestr(info.filename, data)
    res = verify(tampered)
    assert res.exit_code == 5 and "manifest.sig" in res.output
