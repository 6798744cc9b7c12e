"""Example workload files from the use cases of the regional reports, each with its data
generator, a reference model and a non-neural baseline.

``ecoscore workload example NAME DIR`` writes an example into ``DIR``: its workload file, its
models and its data (generated, then checked against the checksum its workload file pins).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ecoscore.benchmarks.errors import WorkloadError

#: Examples by name: the module that makes each.
EXAMPLES: dict[str, str] = {
    "defect-scratch": "ecoscore.benchmarks.examples.defect_scratch",
}


def write_example(name: str, out: Path) -> list[Path]:
    """Write the example ``name`` into ``out``; return the files it holds."""
    if name not in EXAMPLES:
        raise WorkloadError(f"unknown example {name!r}; examples: {', '.join(EXAMPLES)}")
    return importlib.import_module(EXAMPLES[name]).write_example(Path(out))
