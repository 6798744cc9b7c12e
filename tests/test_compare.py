import csv
import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from ecoscore.commands import compare as compare_cmd
from ecoscore.grading.scale import load_scale
from ecoscore.jury.compare import build_comparison, entry_from_file, iter_entries
from ecoscore.jury.replicate import (
    OTHER_HARDWARE,
    QUICK_SAME_HARDWARE,
    SAME_HARDWARE,
    as_replication,
    compare_runs,
)
from ecoscore.jury.signing import generate_key_pair, load_private_key, sign_record
from ecoscore.jury.trust import TrustedKey, TrustedKeys
from ecoscore.record import save_record
from ecoscore.reports.pareto import Point, pareto_front
from ecoscore.reports.tables import to_latex
from tests.record_factory import K, make_record
from tests.record_factory import ten_records as factory_ten_records

MODELS = (("digits-cnn", 2.0e-4, 0.985), ("digits-mlp", 8.0e-5, 0.975), ("digits-tiny", 3e-5, 0.96))


def ten_records(folder: Path) -> list[Path]:
    """Ten records of three models on vision-digits (energies spread by repeat)."""
    return factory_ten_records(folder, MODELS)


def app() -> typer.Typer:
    a = typer.Typer()
    a.callback()(lambda: None)  # a group, so that the command name is parsed
    compare_cmd.register(a)
    return a


def test_ten_records_sorted_by_grade_then_energy_with_rank(tmp_path):
    paths = ten_records(tmp_path)
    comp = build_comparison(iter_entries(paths), load_scale())
    df = comp.dataframe("vision-digits")
    assert len(df) == 10
    assert list(df["rank"]) == [f"{i}/10" for i in range(1, 11)]
    grades = [g.rstrip("*") for g in df["grade"]]
    assert grades == sorted(grades)
    energies = [float(e) for e in df["energy mJ/inference"]]
    assert energies == sorted(energies)
    # 3e-5 J is class A (<= 3.56e-5), 8e-5 B, 2e-4 C (scale 2026.1)
    assert grades[0] == "A" and grades[-1] == "C"
    assert df["model"].iloc[0] == "digits-tiny"
    assert all(f == "unsigned" for f in df["flags"])


def test_flags_for_hardware_boundary_estimate_quick_gate_and_scale(tmp_path):
    recs = [
        make_record(model_name="a"),
        make_record(model_name="b", device_name="Raspberry Pi 5", device_kind="board"),
        make_record(model_name="c", boundary="wall"),
        make_record(model_name="d", measurement="ESTIMATED"),
        make_record(model_name="e", quick=True),
        make_record(model_name="f", quality=0.5),
        make_record(model_name="g", updates={"workload": {"definition_sha256": "f" * 64}}),
    ]
    paths = [save_record(r, tmp_path) for r in recs]
    comp = build_comparison(iter_entries(paths), load_scale())
    flags = {r.record.model.name: r.flags for r in comp.rows}
    for f in flags.values():
        assert {"mixed-hardware", "mixed-boundaries", "scale-mismatch"} <= set(f)
    assert "estimated-energy" in flags["d"]
    assert "quick-run" in flags["e"]
    assert "below-gate" in flags["f"]
    assert "below-gate" not in flags["a"]
    by_model = {r.record.model.name: r for r in comp.rows}
    assert by_model["f"].rank is None
    assert by_model["d"].grade.mark.endswith("*")


def test_hand_edited_record_is_flagged_and_others_still_processed(tmp_path):
    paths = ten_records(tmp_path)
    doc = json.loads(paths[0].read_text())
    doc["quality"]["value"] = 0.999
    paths[0].write_text(json.dumps(doc))
    junk = tmp_path / "junk.json"
    junk.write_text("[]")
    comp = build_comparison(iter_entries([*paths, junk, tmp_path / "missing.json"]), load_scale())
    assert len(comp.rows) == 10
    assert len(comp.errors) == 2
    assert "not a run record" in comp.errors[0].error
    assert "no such file" in comp.errors[1].error
    bad = [r for r in comp.rows if r.entry.integrity_failed]
    assert len(bad) == 1 and "integrity-failed" in bad[0].flags
    df = comp.dataframe()
    row = df[df["record_id"] == doc["record_id"][:12]].iloc[0]
    assert row["grade"] == "-" and row["rank"] == "-" and row["quality"] == ""
    assert df.iloc[-1]["record_id"] == doc["record_id"][:12]  # listed last
    assert list(df["rank"])[:9] == [f"{i}/9" for i in range(1, 10)]


def test_cli_compare_writes_csv_md_latex_plot_and_html(tmp_path):
    paths = ten_records(tmp_path / "runs")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app(),
        [
            "compare",
            str(tmp_path / "runs"),
            "--csv", str(out / "t.csv"),
            "--md", str(out / "t.md"),
            "--latex", str(out / "t.tex"),
            "--plot", str(out / "pareto.svg"),
            "--html", str(out / "report.html"),
            "--no-labels",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    with open(out / "t.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10
    assert {r["record_id"] for r in rows} == {p.stem[:12] for p in paths}
    assert rows[0]["grade"] == "A" and rows[0]["rank"] == "1/10"
    md = (out / "t.md").read_text().splitlines()
    assert len(md) == 12 and md[0].startswith("| workload | rank | grade")
    assert "\\begin{tabular}" in (out / "t.tex").read_text()
    assert (out / "pareto.svg").read_bytes().lstrip().startswith(b"<?xml")
    assert '<table class="comparison"' in (out / "report.html").read_text()


def test_latex_escapes_specials():
    import pandas as pd

    tex = to_latex(pd.DataFrame([{"model": "a_b & 50% #1"}]))
    assert r"a\_b \& 50\% \#1" in tex


def test_pareto_front():
    pts = [
        Point("a", "a", 1.0, 0.90),
        Point("b", "b", 2.0, 0.95),
        Point("c", "c", 3.0, 0.94),  # dominated by b
        Point("d", "d", 1.0, 0.80),  # dominated by a
        Point("e", "e", 4.0, 0.99),
    ]
    assert [p.key for p in pareto_front(pts)] == ["a", "b", "e"]


def test_replication_shown_in_compare(tmp_path):
    orig = make_record(energy_per_inference_j=2e-4 * K)
    again = make_record(energy_per_inference_j=2.1e-4 * K, finished_utc="2026-11-24T10:00:00Z")
    rep, report = as_replication(orig, again)
    assert rep.record_type == "replication" and rep.replicates == orig.record_id
    assert report.replicated and report.same_hardware
    assert "replication of" in rep.provenance.notes
    # an unsigned replication does not count
    paths = [save_record(orig, tmp_path / "a"), save_record(rep, tmp_path / "a")]
    comp = build_comparison(iter_entries(paths), load_scale())
    by_type = {r.record.record_type: r for r in comp.rows}
    assert by_type["run"].replicated_text == "" and by_type["run"].assurance == "self-measured"
    assert {"replication", "untrusted-replication"} <= set(by_type["replication"].flags)
    # signed by a trusted lab, the original becomes lab-replicated
    key, _, b64 = generate_key_pair(tmp_path / "lab")
    signed = sign_record(rep, load_private_key(key))
    paths = [save_record(orig, tmp_path / "b"), save_record(signed, tmp_path / "b")]
    trusted = TrustedKeys(keys=(TrustedKey(name="Lab A", public_key_b64=b64),))
    comp = build_comparison(iter_entries(paths), load_scale(), trusted)
    by_type = {r.record.record_type: r for r in comp.rows}
    assert by_type["run"].replicated_text == "replicated (same hardware)"
    assert by_type["run"].assurance == "lab-replicated"
    assert by_type["run"].lab_replicated_by == "Lab A"
    assert "untrusted-replication" not in by_type["replication"].flags
    assert by_type["replication"].rank is None


def test_replication_tolerances_depend_on_hardware():
    orig = make_record(energy_per_inference_j=2e-4 * K)
    far = make_record(energy_per_inference_j=4e-4 * K, finished_utc="2026-11-24T10:00:00Z")
    same = compare_runs(orig, far)
    assert same.tolerances is SAME_HARDWARE and not same.replicated
    assert same.verdict == "not replicated (energy per inference)"
    other = make_record(
        energy_per_inference_j=4e-4 * K, device_name="AMD EPYC 7763", finished_utc="2026-11-25"
    )
    loose = compare_runs(orig, other)
    assert loose.tolerances is OTHER_HARDWARE and loose.replicated
    assert "loose" in loose.lines()[0]
    quick = make_record(energy_per_inference_j=4e-4 * K, quick=True, finished_utc="2026-11-26")
    assert compare_runs(orig, quick).tolerances is QUICK_SAME_HARDWARE
    assert compare_runs(orig, quick).replicated  # x2 is inside a quick run's x3


def test_entry_from_file_keeps_untrusted_content_of_edited_record(tmp_path):
    path = save_record(make_record(model_name="m1"), tmp_path)
    doc = json.loads(path.read_text())
    doc["model"]["name"] = "m2"
    path.write_text(json.dumps(doc))
    entry = entry_from_file(path)
    assert entry.integrity_failed and entry.record.model.name == "m2"
    assert "integrity check failed" in entry.error


def test_engine_precision_and_the_achieved_ci_level_are_columns(tmp_path):
    recs = [
        make_record(model_name="ort", energy_per_inference_j=1e-4 * K),
        make_record(
            model_name="torch16",
            energy_per_inference_j=2e-4 * K,
            repeats=3,
            updates={"engine": {"name": "torch", "version": "2.13.0", "precision": "fp16"}},
        ),
        make_record(model_name="once", energy_per_inference_j=3e-4 * K, repeats=1),
    ]
    comp = build_comparison(iter_entries([save_record(r, tmp_path) for r in recs]), load_scale())
    df = comp.dataframe("vision-digits").set_index("model")
    assert "energy 95% CI mJ" not in df.columns
    assert df.loc["ort", "engine"] == "onnxruntime 1.20.0" and df.loc["ort", "precision"] == "fp32"
    assert df.loc["torch16", "engine"] == "torch 2.13.0"
    assert df.loc["torch16", "precision"] == "fp16"
    assert df.loc["ort", "CI level"] == "93.75%"  # 5 repeats: [min, max]
    assert df.loc["torch16", "CI level"] == "75%"  # 3 repeats
    assert df.loc["once", "CI level"] == "none (1 repeat)"
    res = CliRunner().invoke(app(), ["compare", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "torch 2.13.0" in res.output and "fp16" in res.output and "93.75%" in res.output


def test_quick_runs_are_apart_unranked_and_off_the_pareto_front(tmp_path):
    from ecoscore.reports.report_html import pareto_points

    recs = [
        make_record(model_name="full-b", energy_per_inference_j=1e-4 * K),
        make_record(model_name="full-c", energy_per_inference_j=2e-4 * K),
        make_record(model_name="quick-a", energy_per_inference_j=0.2e-4 * K, quick=True),
    ]
    comp = build_comparison(iter_entries([save_record(r, tmp_path) for r in recs]), load_scale())
    rows = comp.rows_for("vision-digits")
    assert [r.record.model.name for r in rows] == ["full-b", "full-c", "quick-a"]
    assert [(r.rank, r.ranked_among) for r in rows] == [(1, 2), (2, 2), (None, 0)]
    assert rows[2].section == "quick" and "quick-run" in rows[2].flags
    assert rows[2].grade.letter == "A" and not rows[2].certifiable
    assert [p.label for p in pareto_points(rows)] == ["full-b", "full-c"]
    df = comp.dataframe()
    assert list(df["type"]) == ["run", "run", "quick run"] and df["rank"].iloc[2] == "-"
    res = CliRunner().invoke(app(), ["compare", str(tmp_path)])
    assert res.exit_code == 0, res.output
    main, quick = res.output.split("quick runs (not ranked, not on the Pareto front)")
    assert "quick-a" not in main and "quick-a" in quick


def test_a_quick_replication_is_shown_but_never_counts(tmp_path):
    orig = make_record(energy_per_inference_j=2e-4 * K)
    again = make_record(
        energy_per_inference_j=2.1e-4 * K, quick=True, finished_utc="2026-11-24T10:00:00Z"
    )
    rep, report = as_replication(orig, again)
    assert rep.run.quick and rep.provenance.notes.startswith("quick replication (reproduce")
    assert report.replicated  # it agrees: still only a first look
    key, _, b64 = generate_key_pair(tmp_path / "lab")
    signed = sign_record(rep, load_private_key(key))
    paths = [save_record(orig, tmp_path / "r"), save_record(signed, tmp_path / "r")]
    trusted = TrustedKeys(keys=(TrustedKey(name="Lab A", public_key_b64=b64),))
    comp = build_comparison(iter_entries(paths), load_scale(), trusted)
    by_type = {r.record.record_type: r for r in comp.rows}
    run, replication = by_type["run"], by_type["replication"]
    assert run.assurance == "self-measured" and run.lab_replicated_by is None
    assert run.replications == [] and len(run.quick_looks) == 1
    assert run.replicated_text == "quick look only: replicated (does not count)"
    assert {"replication", "quick-replication"} <= set(replication.flags)


def test_replication_lines_carry_units():
    orig = make_record(energy_per_inference_j=2e-4 * K)
    again = make_record(energy_per_inference_j=2.1e-4 * K, finished_utc="2026-11-24T10:00:00Z")
    lines = compare_runs(orig, again).lines()
    assert "latency p50: original 0.05 ms, replication 0.05 ms" in lines[2]
    assert "energy per inference: original 1.4 mJ, replication 1.47 mJ" in lines[3]
    assert "quality (accuracy): original 0.98, replication 0.98" in lines[1]


def test_each_energy_boundary_is_ranked_and_plotted_apart(tmp_path):
    """A wall-socket record and a CPU-package record measure different things: each is
    first at its own boundary, never ranked against the other, and each boundary gets its
    own Pareto plot."""
    recs = [
        make_record(model_name="pkg-big", energy_per_inference_j=2e-4 * K),
        make_record(model_name="pkg-small", energy_per_inference_j=5e-5 * K),
        make_record(model_name="wall", boundary="wall", energy_per_inference_j=3e-4 * K),
    ]
    runs = tmp_path / "runs"
    comp = build_comparison(iter_entries([save_record(r, tmp_path) for r in recs]), load_scale())
    assert comp.boundaries("vision-digits") == ["cpu-package", "wall"]
    ranks = {r.record.model.name: (r.rank, r.ranked_among) for r in comp.rows}
    assert ranks == {"pkg-small": (1, 2), "pkg-big": (2, 2), "wall": (1, 1)}
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app(), ["compare", str(runs), "--plot", str(out / "p.svg"), "--no-labels"]
    )
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "p-cpu-package.svg",
        "p-wall.svg",
    ]


def test_a_paired_record_has_model_grade_and_factor_columns(tmp_path):
    from tests.paired_records import make_paired

    paired = save_record(make_paired([0.2, 0.21, 0.19, 0.2, 0.22]), tmp_path)
    plain = save_record(make_record(model_name="digits-mlp"), tmp_path)
    comp = build_comparison(iter_entries([paired, plain]), load_scale())
    df = comp.dataframe("vision-digits").set_index("model")
    assert df.loc["digits-logreg", "model grade"] == "B"
    assert df.loc["digits-logreg", "model factor"] == "0.2 (0.19-0.22, 93.75%)"
    assert df.loc["digits-mlp", "model grade"] == "" and df.loc["digits-mlp", "model factor"] == ""
    res = CliRunner().invoke(app(), ["compare", str(tmp_path)], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "model grade" in res.output and "(0.19-0.22," in res.output
    # without a paired record, the terminal table has no model-grade columns
    res = CliRunner().invoke(app(), ["compare", str(plain)], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "model grade" not in res.output
