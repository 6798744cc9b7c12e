"""Scale: `ecoscore compare` over 10,000 run records, and the cost of writing one record.

Targets (issue #7): compare finishes in under 10 s with bounded memory; writing a record
takes under 5 ms. The records are one factory record with varied model name, energy and
quality, each with its record_id recomputed, so that every one passes the integrity check.
Compare runs in a fresh interpreter, as a user runs it; its peak memory is the child's
maximum resident set size.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecoscore.record import content_hash, save_record
from tests.perf.conftest import REPO
from tests.perf.figures import report
from tests.record_factory import make_record

RECORDS = 10_000
TITLE = "scale (targets: compare 10,000 records < 10 s; write a record < 5 ms)"

DRIVER = """
import sys
from ecoscore.cli import app
import ecoscore.commands.compare as compare
if not any(c.name == "compare" for c in app.registered_commands):
    compare.register(app)
app(["compare", *sys.argv[1:]])
"""


def write_records(folder: Path, n: int) -> None:
    base = make_record().model_dump(mode="json")
    workloads = ("vision-digits", "nlp-intent")
    for i in range(n):
        doc = json.loads(json.dumps(base))
        doc["model"]["name"] = f"model-{i:05d}"
        scen = doc["scenarios"][0]
        scen["energy_per_inference_j"]["median"] = 1e-4 * (1 + (i % 97) / 10)
        doc["quality"]["value"] = 0.96 + (i % 30) / 1000
        if i % 2:
            doc = json.loads(json.dumps(make_record(workload=workloads[1]).model_dump(mode="json")))
            doc["model"]["name"] = f"model-{i:05d}"
        doc["record_id"] = content_hash(doc)
        (folder / f"{doc['record_id']}.json").write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def many_records(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("records")
    t0 = time.perf_counter()
    write_records(folder, RECORDS)
    report(TITLE, "generate the records (fixture)", f"{time.perf_counter() - t0:.1f} s")
    return folder


@pytest.mark.benchmark(group="scale")
def test_compare_10000_records(benchmark, many_records, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    csv = tmp_path / "table.csv"

    def compare() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", DRIVER, str(many_records), "--csv", str(csv)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    done = benchmark.pedantic(compare, rounds=1, warmup_rounds=0)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = csv.read_text().count("\n") - 1
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    wall = benchmark.stats.stats.median
    benchmark.extra_info.update(records=RECORDS, wall_s=wall, peak_rss_mb=peak_mb, rows=rows)
    report(TITLE, f"compare {RECORDS} records", f"{wall:.2f} s, peak RSS {peak_mb:.0f} MB")
    assert rows >= RECORDS


@pytest.mark.benchmark(group="scale")
def test_write_one_record(benchmark, tmp_path):
    record = make_record()
    path = benchmark.pedantic(save_record, args=(record, tmp_path), rounds=50, warmup_rounds=3)
    assert path.is_file()
    median = benchmark.stats.stats.median
    report(TITLE, "save_record (json, fsync, rename)", f"{median * 1e3:.2f} ms")
    assert median < 0.05
