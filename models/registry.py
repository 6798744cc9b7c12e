"""The reference models shipped for each workload, read from each folder's manifest.json.

Layout: ``models/<workload_with_underscores>/`` holds ``manifest.json``, the model files
(``.onnx``, ``.pt2``), ``train.py`` (the recipe that made them) and ``CARD.md``.

manifest.json::

    {"workload": "vision-digits",
     "models": [
       {"name": "digits-mlp", "role": "reference",
        "files": {"onnx": "digits_mlp.onnx", "pt2": "digits_mlp.pt2"},
        "parameter_count": 1234,
        "eval_quality": {"accuracy": 0.97}},
       {"name": "digits-logreg", "role": "baseline",
        "files": {"onnx": "digits_logreg.onnx"}, ...}
     ]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent


class ModelNotFound(Exception):
    pass


@dataclass(frozen=True)
class ReferenceModel:
    workload: str
    name: str
    role: str  # "reference" (the neural model) or "baseline" (the non-neural line)
    files: dict[str, Path]
    parameter_count: int | None
    eval_quality: dict[str, float]

    def file(self, fmt: str) -> Path:
        try:
            return self.files[fmt]
        except KeyError:
            raise ModelNotFound(
                f"{self.name} has no {fmt} file (it has: {', '.join(self.files)})"
            ) from None


def folder_for(workload: str) -> Path:
    return MODELS_DIR / workload.replace("-", "_")


def reference_models(workload: str) -> list[ReferenceModel]:
    manifest = folder_for(workload) / "manifest.json"
    if not manifest.is_file():
        raise ModelNotFound(f"no reference models for {workload!r} ({manifest} is missing)")
    doc = json.loads(manifest.read_text())
    out = []
    for m in doc["models"]:
        out.append(
            ReferenceModel(
                workload=workload,
                name=m["name"],
                role=m["role"],
                files={k: manifest.parent / v for k, v in m["files"].items()},
                parameter_count=m.get("parameter_count"),
                eval_quality=m.get("eval_quality", {}),
            )
        )
    return out


def reference_model(workload: str, role: str = "reference") -> ReferenceModel:
    for m in reference_models(workload):
        if m.role == role:
            return m
    raise ModelNotFound(f"no {role} model for {workload!r}")


def all_reference_models() -> list[ReferenceModel]:
    """Every shipped reference and baseline model, of every workload."""
    out: list[ReferenceModel] = []
    for manifest in sorted(MODELS_DIR.glob("*/manifest.json")):
        out.extend(reference_models(json.loads(manifest.read_text())["workload"]))
    return out


def find_by_sha256(sha256: str) -> Path | None:
    """The shipped model file whose bytes have this sha256, if there is one."""
    from ecoscore.files import file_sha256

    for m in all_reference_models():
        for path in m.files.values():
            if path.is_file() and file_sha256(path) == sha256:
                return path
    return None


def find_by_file(path: Path) -> ReferenceModel | None:
    """The reference model a file belongs to, if it is one of ours."""
    path = Path(path).resolve()
    return next(
        (m for m in all_reference_models() if any(p.resolve() == path for p in m.files.values())),
        None,
    )
