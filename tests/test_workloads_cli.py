"""What a startup reads before building a model: ``ecoscore workloads`` (never a shortened
name, even in an 80-column pipe), ``--json`` (input, layout, preprocessing, classes,
output, metric, gate), ``export-train`` (the training split, never the evaluation split),
``workload check`` and the defect-scratch example."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ecoscore.benchmarks.registry import get_workload, workload_names
from ecoscore.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_names_are_whole_in_an_80_column_pipe() -> None:
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(REPO)}
    res = subprocess.run(
        [sys.executable, "-m", "ecoscore", "workloads"],
        capture_output=True, text=True, env=env, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    for name in workload_names(user_data=True):
        assert f" {name} " in res.stdout, f"{name} is shortened or missing:\n{res.stdout}"
    assert "…" not in res.stdout


def test_json_gives_the_contract_of_every_workload() -> None:
    res = runner.invoke(app, ["workloads", "--json"])
    assert res.exit_code == 0, res.output
    docs = {d["name"]: d for d in json.loads(res.output)["workloads"]}
    assert set(docs) == set(workload_names(user_data=True))
    digits = docs["vision-digits"]
    assert digits["input"] == {
        "name": "input",
        "shape": ["batch", 1, 8, 8],
        "dtype": "float32",
        "layout": "NCHW (batch, 1 channel, 8 rows, 8 columns)",
    }
    assert any("divide by 16" in step for step in digits["preprocessing"])
    assert digits["classes"] == [str(d) for d in range(10)]
    assert "(batch, 10)" in digits["output"]
    assert digits["metric"] == {"name": "accuracy", "higher_is_better": True}
    assert digits["gate"]["value"] == 0.95 and digits["gate"]["direction"] == ">="
    for name in ("vision-digits", "nlp-intent", "anomaly-machine", "tiny-ic", "tiny-ad"):
        d = docs[name]
        for key in ("input", "preprocessing", "classes", "output", "metric", "gate"):
            assert d[key], f"{name}: {key} is empty"
    assert docs["anomaly-machine"]["classes"] == ["normal", "anomalous"]
    assert docs["nlp-text-csv"]["classes"] == "from the data"


def test_the_readme_table_says_what_json_says() -> None:
    readme = (REPO / "README.md").read_text()
    for name in ("vision-digits", "nlp-intent", "anomaly-machine"):
        info = get_workload(name).info
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}` |"))
        shape = "(" + ", ".join("batch" if d is None else str(d) for d in info.input.shape) + ")"
        assert f"`{info.input.name}`, {info.input.dtype}, {shape}" in row
        assert f"{info.metric} >= {info.quality_gate:g}" in row


def test_export_train_writes_the_training_split_only(tmp_path: Path) -> None:
    res = runner.invoke(app, ["workloads", "export-train", "vision-digits", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.txt", "train.json", "train.npz"]
    wl = get_workload("vision-digits")
    arrays = np.load(tmp_path / "train.npz")
    train, evaluation = wl.train_split(), wl.eval_split()
    assert np.array_equal(arrays["x"], train.x) and np.array_equal(arrays["y"], train.y)
    seen = {row.tobytes() for row in arrays["x"]}
    overlap = sum(row.tobytes() in seen for row in evaluation.x)
    assert len(arrays["x"]) == 1258 and overlap == 0  # no evaluation image in the file
    meta = json.loads((tmp_path / "train.json").read_text())
    assert meta["split"] == "train" and meta["samples"] == 1258
    assert meta["input"]["name"] == "input" and meta["gate"]["value"] == 0.95
    assert "not included" in meta["evaluation_split"]
    import hashlib

    assert (
        meta["train_npz_sha256"]
        == hashlib.sha256((tmp_path / "train.npz").read_bytes()).hexdigest()
    )


def test_export_train_of_a_user_data_workload_needs_its_data(tmp_path: Path) -> None:
    res = runner.invoke(app, ["workloads", "export-train", "tiny-ic", str(tmp_path)])
    assert res.exit_code == 3 and "--data PATH" in res.output
    res = runner.invoke(app, ["workloads", "export-train", "x.toml", str(tmp_path)])
    assert res.exit_code == 2 and "--data" in res.output


def test_workload_check_prints_problems_or_the_contract(tmp_path: Path) -> None:
    from tests.workload_files import IMAGE_FILE

    bad = tmp_path / "bad.toml"
    bad.write_text(IMAGE_FILE.replace('name = "accuracy"', 'name = "rmse"').replace(
        "shape = [3, 16, 16]", "shape = [3, 16, 17]"))  # fmt: skip
    res = runner.invoke(app, ["workload", "check", str(bad)])
    assert res.exit_code == 3
    lines = [ln for ln in res.output.splitlines() if ln.startswith(f"{bad}: ")]
    assert [ln.split(": ")[1] for ln in lines] == ["metric.name", "input.shape"]
    good = tmp_path / "good.toml"
    good.write_text(IMAGE_FILE)
    res = runner.invoke(app, ["workload", "check", str(good)])
    assert res.exit_code == 0, res.output
    assert "input:  name 'input', float32 (batch, 3, 16, 16), layout NCHW" in res.output
    assert "classes: dark, bright" in res.output
    assert "gate >= 0.9" in res.output


# --- the defect-scratch example -------------------------------------------------------------


def test_the_example_generates_the_pinned_data(tmp_path: Path) -> None:
    from ecoscore.benchmarks.examples.defect_scratch import generate as gen

    res = runner.invoke(app, ["workload", "example", "defect-scratch", str(tmp_path)])
    assert res.exit_code == 0, res.output  # write_example checks the pinned checksum
    files = sorted((tmp_path / "data").rglob("*.png"))
    assert len(files) == 1200
    from PIL import Image

    img = np.asarray(Image.open(tmp_path / "data" / "eval" / "scratch" / "scratch_0007.png"))
    assert np.array_equal(img, gen.image("eval", "scratch", 7))
    # the angle table is integer-exact: no whole degree sits near a rounding boundary
    frac = np.abs((1024 * np.cos(np.deg2rad(np.arange(360)))) % 1 - 0.5)
    assert frac.min() > 1e-3
    res = runner.invoke(app, ["workload", "example", "nope", str(tmp_path)])
    assert res.exit_code == 3 and "defect-scratch" in res.output


def test_the_example_models_match_their_manifest_and_the_gate(tmp_path: Path) -> None:
    import onnxruntime as ort

    from ecoscore.benchmarks.examples.defect_scratch import HERE, write_example
    from ecoscore.benchmarks.workload_file import FileWorkload

    write_example(tmp_path)
    wl = FileWorkload(tmp_path / "workload.toml", tmp_path / "data")
    evaluation = wl.eval_split()
    manifest = json.loads((HERE / "manifest.json").read_text())
    for m in manifest["models"]:
        sess = ort.InferenceSession(
            str(HERE / m["files"]["onnx"]), providers=["CPUExecutionProvider"]
        )
        quality = wl.score(sess.run(None, {"input": evaluation.x})[0], evaluation.y)
        assert quality == pytest.approx(m["eval_quality"]["macro_f1"], abs=1e-9)
        assert (quality >= wl.info.quality_gate) == (m["role"] == "reference")
