"""Scale of a call: `ecoscore compare` over 10,000 run records with the HTML report (labels
included) and the CSV table, and the cost of writing one record.

Targets (issue #17): `compare RECORDS --html report.html --csv table.csv` over 10,000
records in at most 60 s and 1 GB on 2 cores; writing a record under 5 ms.

The records are honest: every one passes its integrity check and the rules of
ecoscore.checks, like a record of `ecoscore run` (two scenarios, five windows each, the
interference probe's figures in every window; about 7 kB of JSON). They vary as a call's
records do: three workloads, two engines and two precisions, energies across the classes,
5 % quick runs, 10 % estimated energy, 5 % with interference, half of them signed. Compare
runs in a fresh interpreter, as a user runs it, and reports its own peak resident set size
(``ru_maxrss`` of that process, read as it exits); the time is the wall clock of the whole
command, interpreter start included. The machine's load average is printed beside them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecoscore.grading.scale import load_scale
from ecoscore.jury.signing import generate_key_pair, load_private_key, sign_record
from ecoscore.record import RunRecord, content_hash, save_record
from tests.perf.conftest import REPO
from tests.perf.figures import report
from tests.record_factory import make_record

RECORDS = 10_000
TITLE = "scale (targets: compare --html --csv over 10,000 records <= 60 s, <= 1 GB; write < 5 ms)"
WORKLOADS = ("vision-digits", "nlp-intent", "anomaly-machine")
#: Energies as multiples of each workload's reference point (class C): A to E.
ENERGY_FACTORS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.5, 3.0, 6.0, 12.0)

DRIVER = """
import resource, sys
from ecoscore.cli import app
try:
    app(["compare", *sys.argv[1:]])
finally:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"ecoscore-peak-rss-kb {kb}", file=sys.stderr)
"""


def _as_a_run_makes_it(rec: RunRecord, interference: bool) -> dict:
    """The record's JSON with what `ecoscore run` adds: an offline scenario and the
    interference probe's figures in every window."""
    doc = rec.model_dump(mode="json")
    offline = json.loads(json.dumps(doc["scenarios"][0]))
    offline["name"], offline["latency"] = "offline", None
    doc["scenarios"].append(offline)
    for s in doc["scenarios"]:
        for i, w in enumerate(s["windows"]):
            share = 0.42 + 0.05 * i if interference else 0.012
            w["details"] = {
                "other_cpu_share": share,
                "own_cpu_share": 0.5,
                "interference": (
                    f"other processes used {share:.0%} of the CPUs" if interference else None
                ),
                "t0_unix": 1795426602.9 + 11 * i,
                "t1_unix": 1795426612.9 + 11 * i,
            }
    return doc


def base_records() -> list[dict]:
    """Distinct records: workload x engine x precision x energy x kind of run."""
    out = []
    kinds = ["full"] * 16 + ["quick", "estimated", "estimated", "interference"]
    scale = load_scale()
    for wi, workload in enumerate(WORKLOADS):
        ref = scale.workloads[workload].reference_energy_per_inference_j
        for ei, engine in enumerate(("onnxruntime", "torch")):
            for pi, precision in enumerate(("fp32", "fp16")):
                for fi, factor in enumerate(ENERGY_FACTORS):
                    kind = kinds[(wi * 7 + ei * 5 + pi * 3 + fi) % len(kinds)]
                    rec = make_record(
                        workload=workload,
                        energy_per_inference_j=ref * factor,
                        quick=kind == "quick",
                        measurement="ESTIMATED" if kind == "estimated" else "MEASURED",
                        updates={
                            "engine": {
                                "name": engine,
                                "version": "1.20.0" if engine == "onnxruntime" else "2.13.0",
                                "precision": precision,
                            }
                        },
                    )
                    out.append(_as_a_run_makes_it(rec, kind == "interference"))
    return out


def write_records(folder: Path, n: int, key_prefix: Path) -> None:
    """``n`` record files: the base records with distinct model names, half signed."""
    from ecoscore.record import parse_record

    key, _, _ = generate_key_pair(key_prefix)
    private = load_private_key(key)
    bases = base_records()
    for i in range(n):
        doc = json.loads(json.dumps(bases[i % len(bases)]))
        name = f"model-{i:05d}"
        doc["model"]["name"] = name
        doc["model"]["file_name"] = doc["model"]["files"][0]["name"] = f"{name}.onnx"
        doc["record_id"] = content_hash(doc)
        rec = parse_record(doc, name)
        save_record(sign_record(rec, private) if i % 2 else rec, folder)


@pytest.fixture(scope="module")
def many_records(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("records")
    t0 = time.perf_counter()
    write_records(folder, RECORDS, tmp_path_factory.mktemp("key") / "lab")
    report(TITLE, "generate the records (fixture)", f"{time.perf_counter() - t0:.1f} s")
    return folder


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


@pytest.mark.benchmark(group="scale")
def test_compare_10000_records_html_and_csv(benchmark, many_records, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    csv, page = tmp_path / "table.csv", tmp_path / "report.html"
    before = _load()

    def compare() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", DRIVER, str(many_records), "--csv", str(csv), "--html",
             str(page)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip

    done = benchmark.pedantic(compare, rounds=1, warmup_rounds=0)
    after = _load()
    assert done.returncode == 0, done.stderr[-2000:]
    peak_kb = int(re.findall(r"ecoscore-peak-rss-kb (\d+)", done.stderr)[-1])
    wall = benchmark.stats.stats.median
    rows = csv.read_text().count("\n") - 1
    html = page.read_text()
    labels = html.count('class="eco-label"')
    layouts = len(set(re.findall(r'<use href="#(eco-layout-\d+)"', html)))
    benchmark.extra_info.update(
        records=RECORDS, wall_s=wall, peak_rss_mb=peak_kb / 1024, rows=rows, labels=labels,
        html_mb=page.stat().st_size / 2**20, load_before=before, load_after=after,
    )  # fmt: skip
    figure = f"{wall:.1f} s, peak RSS {peak_kb / 1024:.0f} MB"
    report(TITLE, f"compare --html --csv, {RECORDS} records", figure)
    report(TITLE, "  labels drawn (distinct layouts)", f"{labels} ({layouts})")
    report(TITLE, "  HTML report", f"{page.stat().st_size / 2**20:.0f} MB")
    report(TITLE, "  machine", f"before: {before}; after: {after}")
    print(f"\ncompare --html --csv over {RECORDS} records: {figure} ({before})")
    assert rows == RECORDS
    assert labels == RECORDS  # every record is a run: every one has its label


@pytest.mark.benchmark(group="scale")
def test_write_one_record(benchmark, tmp_path):
    record = make_record()
    path = benchmark.pedantic(save_record, args=(record, tmp_path), rounds=50, warmup_rounds=3)
    assert path.is_file()
    median = benchmark.stats.stats.median
    report(TITLE, "save_record (json, fsync, rename)", f"{median * 1e3:.2f} ms")
    assert median < 0.05
