"""The README's own-model and own-task sections, run as they are written.

The blocks that follow a ``<!-- readme-test: NAME -->`` line in README.md are extracted and
run in a fresh folder, in order: ``bash`` blocks with ``bash -euo pipefail`` (the folder has
``.venv/bin/ecoscore``, a link to this environment's command), ``python`` blocks with this
interpreter. Nothing in them is edited; the models they write must then run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!-- readme-test: ([a-z-]+) -->\n```(bash|python)\n(.*?)```", re.DOTALL)


def blocks(name: str) -> list[tuple[str, str]]:
    found = [(lang, code) for n, lang, code in MARKER.findall((REPO / "README.md").read_text())
             if n == name]  # fmt: skip
    assert found, f"README.md has no block marked readme-test: {name}"
    return found


def workspace(tmp_path: Path) -> Path:
    """A folder where ``.venv/bin/ecoscore`` is this environment's ecoscore."""
    command = Path(sys.executable).with_name("ecoscore")
    if not command.exists():
        pytest.skip(f"{command} is not installed (run bash .ci/setup)")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "ecoscore").symlink_to(command)
    return tmp_path


def run_blocks(name: str, cwd: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for lang, code in blocks(name):
        argv = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [
            sys.executable, "-c", code]  # fmt: skip
        res = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, f"{lang} block failed:\n{code}\n{res.stderr[-3000:]}"


def records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("runs/*.json"))]


@pytest.mark.slow
def test_own_model_snippets_run_verbatim(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("skl2onnx")
    cwd = workspace(tmp_path)
    run_blocks("own-model", cwd)
    meta = json.loads((cwd / "train-digits" / "train.json").read_text())
    assert meta["split"] == "train" and meta["samples"] == 1258
    by_model = {r["model"]["name"]: r for r in records(cwd / "results")}
    assert set(by_model) == {"my_digits", "my_intent"}
    digits, intent = by_model["my_digits"], by_model["my_intent"]
    assert digits["workload"]["name"] == "vision-digits" and digits["quality"]["passed"]
    assert intent["workload"]["name"] == "nlp-intent" and intent["quality"]["passed"]
    # the figures the README quotes
    assert round(digits["quality"]["value"], 2) == 0.98
    assert round(intent["quality"]["value"], 2) == 0.97


@pytest.mark.slow
def test_own_task_section_runs_verbatim(tmp_path: Path) -> None:
    cwd = workspace(tmp_path)
    run_blocks("own-task", cwd)
    by_model = {r["model"]["name"]: r for r in records(cwd / "defect" / "results")}
    cnn, filters = by_model["defect_cnn"], by_model["defect_filters"]
    for r in (cnn, filters):
        assert r["workload"]["name"] == "defect-scratch" and r["run"]["quick"]
        assert r["workload"]["definition_file"] == "workload.toml"
    # the figures the README quotes: the CNN passes the gate, the baseline does not
    assert round(cnn["quality"]["value"], 3) == 0.931 and cnn["quality"]["passed"]
    assert round(filters["quality"]["value"], 3) == 0.812 and not filters["quality"]["passed"]
    res = subprocess.run(
        [".venv/bin/ecoscore", "verify", "defect/results/runs", "--workload-file",
         "defect/workload.toml"],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 7, res.stdout + res.stderr
    assert res.stdout.count("workload file matches") == 2  # both ran the file
    assert "not eligible: macro_f1 0.8119 < gate 0.9" in res.stdout
