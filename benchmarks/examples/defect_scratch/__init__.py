"""defect-scratch: visual inspection of brushed metal for scratches, a startup's own task
declared by a workload file (``workload.toml``), with generated data (``generate.py``), a
reference CNN and a non-neural baseline (``train.py`` made both ``.onnx`` files).

:func:`write_example` puts what a user needs in one folder::

    DIR/workload.toml        the workload file
    DIR/defect_cnn.onnx      the reference model (3,602 parameters)
    DIR/defect_filters.onnx  the baseline: oriented line filters + logistic regression
    DIR/data/                train/ and eval/, one folder per class (ok, scratch)

The data is generated deterministically, then its evaluation files are checked against the
SHA-256 the workload file pins; a folder that already holds the same files is kept.
"""

from __future__ import annotations

from pathlib import Path

from ecoscore.benchmarks.errors import DataChecksumError

HERE = Path(__file__).resolve().parent
WORKLOAD_FILE = HERE / "workload.toml"
MODEL_FILES = ("defect_cnn.onnx", "defect_filters.onnx")


def write_example(out: Path) -> list[Path]:
    """Copy the workload file and models into ``out``, generate ``out/data``, check it."""
    from ecoscore.benchmarks.adapters import files_sha256
    from ecoscore.benchmarks.examples.defect_scratch.generate import generate
    from ecoscore.benchmarks.workload_file import load_workload_file
    from ecoscore.files import write_atomic

    out = Path(out)
    written = []
    for name in ("workload.toml", *MODEL_FILES):
        write_atomic(out / name, (HERE / name).read_bytes())
        written.append(out / name)
    files = generate(out / "data")
    pinned = load_workload_file(WORKLOAD_FILE).data.eval_sha256
    actual = files_sha256(out / "data", [p for p in files if "eval" in p.relative_to(out).parts])
    if actual != pinned:
        raise DataChecksumError(
            f"{out / 'data'}: the generated evaluation images have sha256 {actual[:16]}..., "
            f"the workload file pins {str(pinned)[:16]}...; this platform generates other "
            "bytes (please report it)"
        )
    return [*written, out / "data"]
