"""Model files as untrusted input: format detection, checks, hash, size and parameter count.

Nothing here unpickles anything: ``.pt``/``.pth`` files (pickles) are refused; ``.pt2``
files are torch.export archives, loaded by the torch engine with ``torch.export.load``.

A model file must be a regular file (a symbolic link is followed; a folder, FIFO or device
is refused before it is opened) of at most ``MAX_MODEL_BYTES``. An ONNX file is parsed
whole into memory, so it is refused before reading when this machine has not
``PARSE_MEMORY_FACTOR`` times its size available; it is parsed once per version of the
file (``scan_onnx``) however many times it is checked.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ecoscore.files import file_sha256, open_untrusted
from ecoscore.runners.engines.base import EngineError
from ecoscore.runners.host import memory_available_bytes

#: A model larger than this is refused (ecoscore targets frugal, edge-sized models).
MAX_MODEL_BYTES = 2 * 1024**3
#: Parsing an ONNX file holds its bytes and the parsed protobuf: about twice its size, and
#: the engine then loads it. A file is refused when the memory available is less than this
#: many times its size.
PARSE_MEMORY_FACTOR = 3


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


def _check_exists(path: Path) -> os.stat_result:
    if not path.exists():
        raise EngineError(f"{path}: model file not found")
    if not path.is_file():
        raise EngineError(f"{path}: not a regular file")
    st = path.stat()
    if st.st_size == 0:
        raise EngineError(f"{path}: model file is empty")
    if st.st_size > MAX_MODEL_BYTES:
        raise EngineError(
            f"{path}: {st.st_size} bytes is larger than the {MAX_MODEL_BYTES} allowed"
        )
    return st


def _check_memory(path: Path, size: int) -> None:
    """Refuse, before reading, a file that cannot be parsed in the memory available."""
    available = memory_available_bytes()
    need = size * PARSE_MEMORY_FACTOR
    if available is not None and need > available:
        raise EngineError(
            f"{path}: {size / 2**20:.0f} MiB; reading it needs about {need / 2**20:.0f} MiB "
            f"of memory and this machine has {available / 2**20:.0f} MiB available; refused "
            "before reading"
        )


@dataclass(frozen=True)
class OnnxScan:
    """What parsing an ONNX file tells: the external data files it loads (relative to its
    folder, sorted, each once) and its parameter count (elements of its initializers)."""

    external: tuple[str, ...]
    parameter_count: int


def scan_onnx(path: Path) -> OnnxScan:
    """Check an ONNX file (regular, not too large for this machine, parses, external data
    inside its folder) and describe it; parsed once per version of the file."""
    path = Path(path)
    st = _check_exists(path)
    identity = (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    return _scan(identity, path)


@functools.lru_cache(maxsize=4)
def _scan(identity: tuple[object, ...], path: Path) -> OnnxScan:
    import numpy as np
    import onnx

    _check_memory(path, int(identity[3]))  # type: ignore[call-overload]
    try:
        with open_untrusted(path, MAX_MODEL_BYTES, EngineError, "model file") as f:
            data = f.read(MAX_MODEL_BYTES)
        proto = onnx.load_model_from_string(data)
        del data
    except EngineError:
        raise
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
    params = int(sum(int(np.prod(t.dims)) for t in proto.graph.initializer))
    return OnnxScan(tuple(sorted(locations)), params)


def check_onnx_file(path: Path) -> list[str]:
    """Check an ONNX file (``scan_onnx``); return the external data files it loads."""
    return list(scan_onnx(path).external)


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
    return scan_onnx(path).parameter_count


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
        scan = scan_onnx(path)
        extra = list(scan.external)
        params: int | None = scan.parameter_count
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
