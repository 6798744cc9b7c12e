"""What a third party needs to build a model for a workload, and its training split.

:func:`describe` gives, per workload: the input's name, shape, dtype and layout, the
preprocessing, the classes, the output, the metric and the gate (with its direction: a
minimum, or a maximum for RMSE). ``ecoscore workloads --json`` prints it and
``ecoscore workload check`` shows it for a workload file.

:func:`export_train` writes the training split, and only it, in a plain format:

- ``train.npz``: ``x`` (the model's input, already preprocessed: feed it as it is) and ``y``
  (class indices, 0/1 for normal/anomalous, or regression targets);
- ``train.json``: what the arrays are (workload, version, shapes, dtypes, classes,
  preprocessing, the sha256 of ``train.npz``), and a reminder that the evaluation split is
  not in it;
- ``README.txt``: the same in words, with the lines that load the arrays.

Files are written atomically; an existing ``train.npz`` is replaced only whole.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ecoscore.benchmarks.base import ModelInterface, Workload, WorkloadInfo, default_interface
from ecoscore.benchmarks.metrics import higher_is_better
from ecoscore.files import write_atomic


def shape_text(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("batch" if d is None else str(d) for d in shape) + ")"


def gate_doc(info: WorkloadInfo) -> dict[str, Any]:
    high = higher_is_better(info.metric)
    return {
        "value": info.quality_gate,
        "direction": ">=" if high else "<=",
        "meaning": (
            f"graded only when {info.metric} >= {info.quality_gate:g}"
            if high
            else f"graded only when {info.metric} <= {info.quality_gate:g} (lower is better)"
        ),
        "rationale": info.gate_rationale,
    }


def describe(wl: Workload) -> dict[str, Any]:
    """The workload's contract with a model, as a JSON-ready dict."""
    data = "bundled" if wl.data_source == "bundled" else wl.data_source
    doc = contract(wl.info, wl.interface(), data)
    file = wl.definition_file
    if file is not None:
        doc["definition_file"] = {"name": file.name, "sha256": file.sha256}
    return doc


def describe_class(cls: type[Workload], name: str, data: str) -> dict[str, Any]:
    """The contract of a workload that reads the user's data, without reading it: what its
    class declares (the classes, for one, may come from the data)."""
    info = getattr(cls, "info", None)
    iface = cls.model_interface
    if isinstance(info, WorkloadInfo):
        return contract(info, iface or default_interface(info), data)
    doc: dict[str, Any] = {"name": name, "data": data}
    if iface is not None:
        doc["input"] = {"layout": iface.layout}
        doc["preprocessing"] = list(iface.preprocessing)
        doc["output"] = iface.output
    doc["classes"] = "from the data"
    return doc


def contract(info: WorkloadInfo, iface: ModelInterface, data: str) -> dict[str, Any]:
    return {
        "name": info.name,
        "version": info.version,
        "task": info.task,
        "family": info.family,
        "description": info.description,
        "input": {
            "name": info.input.name,
            "shape": ["batch" if d is None else d for d in info.input.shape],
            "dtype": info.input.dtype,
            "layout": iface.layout,
        },
        "preprocessing": list(iface.preprocessing),
        "classes": list(info.class_names),
        "output": iface.output,
        "metric": {"name": info.metric, "higher_is_better": higher_is_better(info.metric)},
        "gate": gate_doc(info),
        "data": data,
        "definition_sha256": info.definition_sha256(),
    }


def describe_lines(doc: dict[str, Any]) -> list[str]:
    """The contract in words, one fact a line."""
    i = doc["input"]
    shape = "(" + ", ".join(str(d) for d in i["shape"]) + ")"
    lines = [
        f"{doc['name']} {doc['version']} ({doc['task']}): {doc['description']}",
        f"  input:  name {i['name']!r}, {i['dtype']} {shape}, layout {i['layout']}",
        "  preprocessing (raw data -> input):",
        *(f"    {n}. {step}" for n, step in enumerate(doc["preprocessing"], 1)),
    ]
    if doc["classes"]:
        lines.append(f"  classes: {', '.join(doc['classes'])}")
    lines += [
        f"  output: {doc['output']}",
        f"  metric: {doc['metric']['name']}; gate {doc['gate']['direction']} "
        f"{doc['gate']['value']:g}: {doc['gate']['meaning']}",
    ]
    return lines


def _npz_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=x, y=y)
    return buf.getvalue()


def export_train(wl: Workload, out: Path) -> list[Path]:
    """Write the training split of ``wl`` to ``out``; return the files written."""
    out = Path(out)
    info = wl.info
    split = wl.train_split()
    data = _npz_bytes(split.x, split.y)
    doc = describe(wl)
    meta = {
        "workload": info.name,
        "version": info.version,
        "definition_sha256": info.definition_sha256(),
        "split": "train",
        "samples": len(split),
        "x": {"shape": list(split.x.shape), "dtype": str(split.x.dtype)},
        "y": {"shape": list(split.y.shape), "dtype": str(split.y.dtype)},
        "y_meaning": _y_meaning(info),
        "classes": list(info.class_names),
        "input": doc["input"],
        "preprocessing_already_applied": doc["preprocessing"],
        "output": doc["output"],
        "metric": doc["metric"],
        "gate": doc["gate"],
        "train_npz_sha256": hashlib.sha256(data).hexdigest(),
        "evaluation_split": (
            "not included: ecoscore run scores a model on the workload's evaluation split, "
            "which must not be used for training or model selection"
        ),
    }
    readme = "\n".join(
        [
            f"Training split of the ecoscore workload {info.name} {info.version}",
            "",
            f"train.npz holds x, {split.x.dtype} of shape {tuple(split.x.shape)} "
            f"({len(split)} samples), and y ({_y_meaning(info)}).",
            "x is already preprocessed: it is exactly what the model takes; do not apply the",
            "steps below again. They are listed so that you know what x is:",
            *(f"  {n}. {step}" for n, step in enumerate(doc["preprocessing"], 1)),
            "",
            "    import numpy as np",
            '    data = np.load("train.npz")',
            '    x, y = data["x"], data["y"]',
            "",
            f"The model takes input {doc['input']['name']!r} of shape "
            f"{shape_text(info.input.shape)} and dtype {info.input.dtype} (a dynamic batch "
            f"dimension) and gives {doc['output']}.",
            f"Metric {info.metric}; {doc['gate']['meaning']}.",
            "",
            "The evaluation split is not included: ecoscore run scores on it. Keep your own",
            "validation split out of train.npz if you need one.",
            "",
        ]
    )
    written = []
    for name, payload in (
        ("train.npz", data),
        ("train.json", (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode()),
        ("README.txt", readme.encode()),
    ):
        write_atomic(out / name, payload)
        written.append(out / name)
    return written


def _y_meaning(info: WorkloadInfo) -> str:
    if info.task == "classification":
        return f"class index 0..{(info.num_classes or 1) - 1}, in the order of 'classes'"
    if info.task == "anomaly":
        return "0 = normal (the training split of an anomaly task holds normal samples only)"
    return "the regression target"
