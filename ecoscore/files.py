"""Files ecoscore writes and reads: atomic writes, content hashes, the TOML files it is
given (scales, embodied table, jury policy, trusted keys, workload and campaign files).

Rules enforced here:
- a write goes to a temporary file in the same folder, is flushed to disk, then renamed:
  an interrupted write leaves no partial file and never replaces a file half-written;
- a TOML file that cannot be read or parsed raises the caller's error kind, naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename.

    ``mode`` sets the permissions (0o600 for secrets).
    """
    write_atomic_parts(path, (data,), mode)


def write_atomic_parts(path: Path, parts: Iterable[bytes], mode: int = 0o644) -> None:
    """``write_atomic`` for content made a part at a time (a large report): each part is
    written as it comes; the file appears, complete, only at the rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            for data in parts:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_toml(path: Path, error: type[Exception], what: str = "") -> dict[str, Any]:
    """Parse ``path``; an unreadable or malformed file raises ``error`` naming the file."""
    path = Path(path)
    label = f" the {what}" if what else ""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise error(f"{path}: cannot read{label}: {e.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: malformed TOML: {e}") from None


def toml_model(path: Path, model: type[M], error: type[Exception], what: str = "") -> M:
    """Read ``path`` and validate it as the pydantic ``model``; the first problem raises
    ``error`` naming the file and the key (``policy.min_grade.sme``)."""
    doc = read_toml(path, error, what)
    return validate_doc(doc, model, error, str(path))


def validate_doc(doc: Any, model: type[M], error: type[Exception], source: str) -> M:
    """Validate a parsed document; a problem raises ``error`` naming ``source`` and the key."""
    from pydantic import ValidationError

    try:
        return model.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = e.error_count() - 1
        tail = f" (and {more} more problem(s))" if more else ""
        raise error(f"{source}: {where}: {_message(first)}{tail}") from None


def _message(err: Any) -> str:
    """pydantic's message for one error, in the words of a file's reader."""
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key (not one this file may have; check its spelling)"
    if kind == "missing":
        return "missing (this key is required)"
    return str(err["msg"]).removeprefix("Value error, ")
