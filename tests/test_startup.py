"""Start-up stays light: `ecoscore --help` and `ecoscore workloads` import no heavy library.

Each command runs in a fresh interpreter that then lists what it imported; torch,
onnxruntime, CUDA bindings, pandas, matplotlib and scikit-learn must not be among them
(they are imported inside the commands that need them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

HEAVY = (
    "torch",
    "onnxruntime",
    "onnx",
    "pynvml",
    "cupy",
    "tensorrt",
    "pandas",
    "matplotlib",
    "sklearn",
    "codecarbon",
    "ray",
)

PROBE = """
import json, sys
args, watched = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
sys.argv = ["ecoscore", *args]
code = 0
try:
    from ecoscore.cli import main
    main()
except SystemExit as e:
    code = e.code or 0
heavy = sorted({m.split(".")[0] for m in sys.modules} & watched)
print("PROBE " + json.dumps({"code": code, "heavy": heavy}))
"""


def imported_by(args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("PROBE ")]
    assert lines, f"probe printed nothing; stderr: {out.stderr[-2000:]}"
    return json.loads(lines[-1][len("PROBE ") :])


@pytest.mark.parametrize("args", [["--help"], ["workloads"]], ids=["help", "workloads"])
def test_command_imports_no_heavy_library(args):
    result = imported_by(args)
    assert result["code"] == 0
    assert result["heavy"] == [], f"ecoscore {' '.join(args)} imported {result['heavy']}"


def test_probe_sees_a_heavy_import():
    """The probe itself works: a command that loads a model's engine shows onnxruntime."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = "import sys, ecoscore.runners.engines.registry as m; m.make_engine('onnxruntime'); " + (
        "print('onnxruntime' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.stdout.strip() == "True", out.stderr[-2000:]
