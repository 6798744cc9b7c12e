"""The published MLPerf Tiny energy table (results/published/) and a record's position
among its results: validated rows with sources, same task and same boundary only, repeats
left out; shown by ``ecoscore score``; the builder script on a small results tree."""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecoscore.cli import app
from ecoscore.grading.published import (
    BOUNDARY,
    COMPARABLE_BOUNDARIES,
    PublishedTableError,
    load_published,
    position,
    table_path,
)
from ecoscore.record import save_record
from tests.record_factory import make_record

REPO = Path(__file__).resolve().parents[1]


def tiny_record(workload: str = "tiny-ic", energy_j: float = 1e-3, boundary: str = BOUNDARY, **kw):
    reference = kw.pop("reference_data", True)
    return make_record(
        energy_per_inference_j=energy_j,
        boundary=boundary,
        updates={
            "workload": {
                "name": workload,
                "data_source": "user:/data",
                "reference_data": reference,
                "data_pinned_by": "published" if reference else "none",
                "data_check": "test_batch (md5) match" if reference else "no checksum",
            }
        },
        **kw,
    ).with_id()


def test_the_shipped_table_is_valid_and_every_row_has_a_source():
    t = load_published()
    assert Path(t.path) == table_path() and table_path().parent == REPO / "results" / "published"
    assert len(t.rows) == 115 and t.rounds == ["v1.0", "v1.1", "v1.2", "v1.3"]
    assert all(r.source.startswith("mlcommons/tiny_results_v") for r in t.rows)
    assert all(r.division == "closed" for r in t.rows)
    counts = {b: len([r for r in t.rows if r.benchmark == b]) for b in ("ic", "kws", "vww", "ad")}
    assert counts == {"ic": 31, "kws": 31, "vww": 31, "ad": 22}
    repeats = [r for r in t.rows if r.identical_to_round]
    assert len(repeats) == 18 and {r.submitter for r in repeats} == {"syntiant"}
    assert len(t.distinct("ic")) == 25


def test_a_malformed_row_is_one_line_naming_row_and_column(tmp_path):
    src = table_path().read_text().splitlines()
    bad = src[:3]
    bad[2] = bad[2].replace(",ic,27.711,", ",ic,-1,")
    path = tmp_path / "t.csv"
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(PublishedTableError) as err:
        load_published(path)
    msg = str(err.value)
    assert "\n" not in msg and "line 3" in msg and "median_energy_uj_per_inference" in msg
    path.write_text("round,submitter\nv1.0,x\n")
    with pytest.raises(PublishedTableError, match="missing column"):
        load_published(path)


def test_position_among_distinct_results_of_the_same_task():
    t = load_published()
    energies = sorted(r.median_energy_uj_per_inference for r in t.distinct("ic"))
    median = statistics.median(energies)
    rec = tiny_record(energy_j=median / 3.1 * 1e-6)
    pos = position(rec, t)
    assert pos is not None and pos.comparable and pos.count == 25
    assert pos.ratio == pytest.approx(1 / 3.1)
    assert "3.1x less energy than the median of 25 published results" in pos.text
    assert pos.below == sum(1 for e in energies if e > median / 3.1)
    assert pos.caveats == ()
    worse = position(tiny_record(energy_j=median * 2e-6), t)
    assert "2x more energy than the median" in worse.text and worse.below < 13


def test_other_boundaries_are_not_placed_and_say_why():
    rec = tiny_record(boundary="cpu-package")
    pos = position(rec)
    assert pos is not None and not pos.comparable
    assert "'cpu-package'" in pos.reason and "EnergyRunner" in pos.reason
    assert "not placed" in pos.text
    assert COMPARABLE_BOUNDARIES == ("device-input",)
    assert position(make_record()) is None  # vision-digits has no published counterpart


def test_caveats_for_non_reference_data_and_quick_runs():
    pos = position(tiny_record(reference_data=False, quick=True))
    assert pos.comparable
    assert "non-reference data" in pos.text and "quick" in pos.text


def test_score_shows_the_position_and_json_carries_it(tmp_path):
    rec = tiny_record("tiny-kws", energy_j=50e-6)
    path = save_record(rec, tmp_path)
    res = CliRunner().invoke(app, ["score", str(path)])
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "MLPerf Tiny kws (v1.0-v1.3, closed, device-input): 50 uJ/inference" in flat
    assert "less energy than the median of" in flat
    assert "data: reference" in flat
    res = CliRunner().invoke(app, ["score", "--json", str(path)])
    doc = json.loads(res.output)
    published = doc["results"][0]["published"]
    assert published["comparable"] and published["benchmark"] == "kws"


def test_score_marks_non_reference_data(tmp_path):
    rec = tiny_record("tiny-vww", reference_data=False)
    path = save_record(rec, tmp_path)
    res = CliRunner().invoke(app, ["score", str(path)])
    assert res.exit_code == 0, res.output
    assert "non-reference" in res.output


def _results_tree(root: Path) -> Path:
    """A tiny tiny_results_v1.1 tree with one closed energy result."""
    base = root / "tiny_results_v1.1" / "closed" / "acme"
    system = base / "results" / "board1" / "ic"
    for mode, line in (
        ("energy", "01709.424 ulp-ml: Median energy cost is 443.184 uJ/inf."),
        ("performance", "357316.244 ulp-mlperf: Median throughput is 116.212 inf./sec."),
        ("accuracy", "01714.340 ulp-mlperf: Top-1: 87.5%"),
    ):
        (system / mode).mkdir(parents=True)
        (system / mode / "results.txt").write_text(line + "\n")
    (base / "systems").mkdir(parents=True)
    desc = {"Processor(s) Name": "Arm Cortex-M4", "Accelerator": "", "Inference Framework": "X"}
    (base / "systems" / "board1.json").write_text(json.dumps(desc))
    return root / "tiny_results_v1.1"


def test_the_builder_rebuilds_rows_from_a_results_tree(tmp_path):
    tree = _results_tree(tmp_path)
    out = tmp_path / "t.csv"
    script = REPO / "results" / "published" / "build_mlperf_tiny_table.py"
    res = subprocess.run(
        [sys.executable, str(script), "-o", str(out), str(tree)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    (row,) = list(csv.DictReader(out.open()))
    assert row["median_energy_uj_per_inference"] == "443.184"
    assert row["median_latency_ms"] == str(round(1000 / 116.212, 4))
    assert row["accuracy"] == "87.5" and row["device_class"] == "mcu-cortex-m4"
    assert row["source"].endswith("closed/acme/results/board1/ic/energy/results.txt")
    with out.open() as f:
        assert next(csv.reader(f)) == next(csv.reader(table_path().open()))
    assert len(load_published(out).rows) == 1  # a rebuilt table loads as the shipped one
