"""Model files as untrusted input: format detection, checks, hash, size and parameter count.

Nothing here unpickles anything: ``.pt``/``.pth`` files (pickles) are refused; ``.pt2``
files are torch.export archives, loaded by the torch engine with ``torch.export.load``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ecoscore.files import file_sha256
from ecoscore.runners.engines.base import EngineError

#: A model larger than this is refused (ecoscore targets frugal, edge-sized models).
MAX_MODEL_BYTES = 2 * 1024**3


def model_format(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".pt2":
        return "pt2"
    if suffix in (".pt", ".pth", ".pkl", ".bin"):
        raise EngineError(
            f"{path}: pickled torch files are refused (unpickling runs arbitrary code); "
            "export the model with torch.export.save to a .pt2 file, or to ONNX"
        )
    raise EngineError(f"{path}: unknown model format {suffix!r}; use .onnx or .pt2")


def _check_exists(path: Path) -> int:
    if not path.exists():
        raise EngineError(f"{path}: model file not found")
    if not path.is_file():
        raise EngineError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise EngineError(f"{path}: model file is empty")
    if size > MAX_MODEL_BYTES:
        raise EngineError(f"{path}: {size} bytes is larger than the {MAX_MODEL_BYTES} allowed")
    return size


def check_onnx_file(path: Path) -> list[str]:
    """Parse an ONNX file and check that external data stays inside its folder; return the
    external data files it loads (relative to its folder, sorted, each once)."""
    import onnx

    path = Path(path)
    _check_exists(path)
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise EngineError(f"{path}: not a valid ONNX model (truncated or corrupt): {e}") from None
    base = path.parent.resolve()
    locations: set[str] = set()
    for tensor in _external_tensors(proto):
        loc = next((e.value for e in tensor.external_data if e.key == "location"), "")
        target = (base / loc).resolve()
        if not target.is_relative_to(base):
            raise EngineError(
                f"{path}: tensor {tensor.name!r} points at external data outside the model's "
                f"folder ({loc!r}); refused"
            )
        if not target.is_file():
            raise EngineError(f"{path}: external data file {loc!r} for {tensor.name!r} is missing")
        locations.add(target.relative_to(base).as_posix())
    return sorted(locations)


def _external_tensors(proto):  # type: ignore[no-untyped-def]
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    return [t for t in _get_all_tensors(proto) if uses_external_data(t)]


def check_pt2_file(path: Path) -> None:
    import zipfile

    path = Path(path)
    _check_exists(path)
    if not zipfile.is_zipfile(path):
        raise EngineError(f"{path}: not a torch.export archive (.pt2 is a zip file); truncated?")
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError) as e:
        raise EngineError(f"{path}: corrupt .pt2 archive: {e}") from None
    if bad is not None:
        raise EngineError(f"{path}: corrupt .pt2 archive (member {bad!r} fails its CRC)")


def onnx_parameter_count(path: Path) -> int:
    import numpy as np
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return int(sum(int(np.prod(t.dims)) for t in proto.graph.initializer))


@dataclass(frozen=True)
class FileDigest:
    name: str  # relative to the model file's folder
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class ModelFile:
    """A checked model: its format, identity, size and (ONNX) parameter count.

    ``files`` lists every file the model loads, the model file first. ``sha256`` is the
    model file's own sha256 when it is the only one; otherwise the sha256 of the canonical
    list of (name, sha256) of every file, so that other weights in an ONNX external-data
    file make another model."""

    path: Path
    format: str
    sha256: str
    size_bytes: int
    parameter_count: int | None  # None: counted by the engine once loaded (.pt2)
    files: tuple[FileDigest, ...]


def model_identity(files: tuple[FileDigest, ...] | list[FileDigest]) -> str:
    if len(files) == 1:
        return files[0].sha256
    doc = [[f.name, f.sha256] for f in files]
    return hashlib.sha256(json.dumps(doc, separators=(",", ":")).encode()).hexdigest()


def inspect_model(path: Path) -> ModelFile:
    """Check a model file (format, readable, not hostile) and describe it with every file
    it loads."""
    path = Path(path)
    fmt = model_format(path)
    extra: list[str] = []
    if fmt == "onnx":
        extra = check_onnx_file(path)
        params: int | None = onnx_parameter_count(path)
    else:
        check_pt2_file(path)
        params = None
    files = tuple(
        FileDigest(name, file_sha256(path.parent / name), (path.parent / name).stat().st_size)
        for name in [path.name, *extra]
    )
    return ModelFile(
        path, fmt, model_identity(files), sum(f.size_bytes for f in files), params, files
    )
