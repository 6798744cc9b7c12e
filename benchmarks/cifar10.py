"""CIFAR-10 read from the user's disk, in its standard "python version" format (the reader
behind ``tiny-ic``, :mod:`ecoscore.benchmarks.tiny_ic`).

The folder ``cifar-10-batches-py`` holds ``data_batch_1`` .. ``data_batch_5``, ``test_batch``
and ``batches.meta``: Python pickles of dicts with bytes keys. A batch has ``b"data"`` (a
uint8 array of N x 3072: 1024 red, then 1024 green, then 1024 blue values of a 32x32 image,
row by row) and ``b"labels"`` (N ints in 0..9); the meta file has ``b"label_names"``.

Pickles are untrusted input: they are read with an unpickler that resolves only the few
globals these files need (numpy array and dtype reconstruction, and ``_codecs.encode`` with
the latin-1 codec, which protocol-2 pickles written by Python 3 use for bytes). Any other
global is refused before anything runs.
"""

from __future__ import annotations

import _codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ecoscore.benchmarks.base import Split
from ecoscore.benchmarks.errors import DataFormatError
from ecoscore.files import read_untrusted

FOLDER_NAME = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
IMAGE_SHAPE = (3, 32, 32)
ROW_BYTES = 3 * 32 * 32
CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
#: A batch file larger than this is refused (the real ones are about 31 MB).
MAX_FILE_BYTES = 256 * 1024**2


def _reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct as fn  # numpy >= 2
    except ImportError:
        from numpy.core.multiarray import _reconstruct as fn  # numpy 1.x
    return fn


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` limited to what pickle protocol 2 uses for bytes: latin-1."""
    if encoding.lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with codec {encoding!r} is not allowed")
    return _codecs.encode(text, "latin1", errors)


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _BatchUnpickler(pickle.Unpickler):
    """Resolves only the globals a CIFAR-10 pickle needs; refuses all others."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refers to {module}.{name}, which a CIFAR-10 batch never needs; refused "
                "(a pickle can run code through such references)"
            ) from None


def read_pickle(path: Path) -> dict[bytes, Any]:
    """A CIFAR-10 pickle as a dict, read with the restricted unpickler."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found (expected in a {FOLDER_NAME} folder)")
    raw = read_untrusted(path, MAX_FILE_BYTES, DataFormatError, "CIFAR-10 batch file")
    try:
        obj = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # a malformed pickle raises many exception types
        raise DataFormatError(f"{path}: not a valid CIFAR-10 pickle: {e}") from None
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path}: expected a dict, found {type(obj).__name__}")
    return obj


def _field(path: Path, doc: dict[bytes, Any], key: bytes) -> Any:
    if key not in doc:
        keys = ", ".join(repr(k) for k in doc)
        raise DataFormatError(f"{path}: missing key {key!r} (keys present: {keys})")
    return doc[key]


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: data uint8 (N, 3072) and labels int64 (N,), validated."""
    path = Path(path)
    doc = read_pickle(path)
    data = _field(path, doc, b"data")
    labels_obj = _field(path, doc, b"labels")
    if not isinstance(data, np.ndarray):
        raise DataFormatError(f"{path}: b'data' is a {type(data).__name__}, not a numpy array")
    if data.dtype != np.uint8:
        raise DataFormatError(f"{path}: b'data' has dtype {data.dtype}, expected uint8")
    if data.ndim != 2 or data.shape[1] != ROW_BYTES or data.shape[0] == 0:
        raise DataFormatError(
            f"{path}: b'data' has shape {data.shape}, expected (N, {ROW_BYTES}) with N > 0"
        )
    if not isinstance(labels_obj, (list, np.ndarray)) or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels_obj
    ):
        raise DataFormatError(f"{path}: b'labels' must be a list of integers")
    labels = np.asarray(labels_obj, dtype=np.int64).reshape(-1)
    if labels.shape[0] != data.shape[0]:
        raise DataFormatError(
            f"{path}: {labels.shape[0]} labels for {data.shape[0]} images (they must match)"
        )
    bad = np.flatnonzero((labels < 0) | (labels >= len(CLASS_NAMES)))
    if bad.size:
        raise DataFormatError(
            f"{path}: label {int(labels[bad[0]])} at index {int(bad[0])} is outside 0..9 "
            f"({bad.size} bad labels)"
        )
    return np.ascontiguousarray(data), labels


def read_label_names(folder: Path) -> tuple[str, ...]:
    """The class names from ``batches.meta``; they must be CIFAR-10's ten classes."""
    path = Path(folder) / META_FILE
    doc = read_pickle(path)
    names = _field(path, doc, b"label_names")
    if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names):
        raise DataFormatError(f"{path}: b'label_names' must be a list of names")
    decoded = tuple(n.decode("utf-8") if isinstance(n, bytes) else n for n in names)
    if decoded != CLASS_NAMES:
        raise DataFormatError(
            f"{path}: label names {list(decoded)} are not CIFAR-10's {list(CLASS_NAMES)}"
        )
    return decoded


def resolve_folder(folder: Path) -> Path:
    """The ``cifar-10-batches-py`` folder: ``folder`` itself or the one inside it."""
    folder = Path(folder)
    if (folder / FOLDER_NAME).is_dir():
        folder = folder / FOLDER_NAME
    if not folder.is_dir():
        raise DataFormatError(f"{folder}: not a folder (expected the {FOLDER_NAME} folder)")
    if not (folder / TEST_FILE).is_file():
        raise DataFormatError(
            f"{folder}: no {TEST_FILE} file; give the {FOLDER_NAME} folder of CIFAR-10's "
            '"python version"'
        )
    return folder


def to_nhwc(data: np.ndarray) -> np.ndarray:
    """uint8 (N, 3072), channel-planar -> uint8 (N, 32, 32, 3), channels R, G, B last."""
    return np.ascontiguousarray(data.reshape(-1, *IMAGE_SHAPE).transpose(0, 2, 3, 1))


def load_cifar10(folder: Path) -> tuple[Split, Split]:
    """The standard train (five data batches) and test splits as uint8 NHWC images and
    int64 labels, unscaled."""
    folder = resolve_folder(folder)
    read_label_names(folder)
    parts = [read_batch(folder / name) for name in TRAIN_FILES]
    train = Split(
        x=to_nhwc(np.concatenate([d for d, _ in parts])),
        y=np.concatenate([y for _, y in parts]),
    )
    data, labels = read_batch(folder / TEST_FILE)
    return train, Split(x=to_nhwc(data), y=labels)
