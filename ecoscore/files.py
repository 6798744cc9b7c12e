"""Files ecoscore writes and reads: atomic writes, content hashes, untrusted files opened
safely, strict JSON, the TOML files it is given (scales, embodied table, jury policy,
trusted keys, workload and campaign files).

Rules enforced here:
- a write goes to a temporary file in the same folder, is flushed to disk, then renamed:
  an interrupted write leaves no partial file and never replaces a file half-written; a
  result that cannot be written is an ``OutputError`` naming the file (``write_output``);
- an untrusted file is opened only when it is a regular file (a symbolic link is followed
  to its target: a device, a FIFO, a socket or a folder is refused before it is opened) no
  larger than the limit its kind has; the checks are made again on the open descriptor, so
  the file cannot be swapped in between, and no more than the limit is ever read
  (``read_untrusted``, ``open_untrusted``);
- JSON is read strictly (``loads_strict``): a NaN or Infinity token, a duplicate key, an
  integer of more than ``MAX_JSON_INT_DIGITS`` digits, nesting deeper than
  ``MAX_JSON_DEPTH`` or a lone surrogate escape is one error naming the file;
- a TOML file that cannot be read or parsed raises the caller's error kind, naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from ecoscore.errors import OutputError

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


def write_output(path: Path, data: bytes | Iterable[bytes], what: str = "result") -> Path:
    """``write_atomic`` for a result the user asked for (a report, a table, a label, a key):
    a folder that cannot be written, a path that is a folder, a full disk is an
    ``OutputError`` naming the file; nothing is half-written. ``data``: the bytes, or parts
    written as they come (a large report)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; cannot write the {what} there")
    try:
        if isinstance(data, bytes):
            write_atomic(path, data)
        else:
            write_atomic_parts(path, data)
    except OSError as e:
        raise OutputError(f"{path}: cannot write the {what}: {e.strerror or e}") from None
    return path


def check_output_path(path: Path, what: str = "result") -> None:
    """Refuse, before any work, an output path that cannot be a file: a folder, or a file
    under a path whose nearest existing folder is not writable (or is a file)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; cannot write the {what} there")
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is None:
        return
    if not parent.is_dir():
        raise OutputError(f"{path}: {parent} is not a folder; cannot write the {what}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: {parent} is not writable; cannot write the {what}")


# -- untrusted files ----------------------------------------------------------------------

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _check_regular(
    st: os.stat_result, path: Path, limit: int, error: type[Exception], what: str
) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: is {_kind(st.st_mode)}, not a regular file; refused as the {what}")
    if st.st_size > limit:
        raise error(f"{path}: {st.st_size} bytes is larger than a {what} may be ({limit}); refused")


@contextlib.contextmanager
def open_untrusted(
    path: Path, limit: int, error: type[Exception], what: str = "file"
) -> Iterator[BinaryIO]:
    """Open an untrusted file for reading: a regular file (after symbolic links) of at most
    ``limit`` bytes, else ``error`` naming the file and what it is. Checked before opening
    (a device or a FIFO is never opened) and again on the open descriptor."""
    path = Path(path)
    try:
        _check_regular(os.stat(path), path, limit, error, what)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise error(f"{path}: cannot read the {what}: no such file") from None
    except OSError as e:
        raise error(f"{path}: cannot read the {what}: {e.strerror or e}") from None
    try:
        _check_regular(os.fstat(fd), path, limit, error, what)
        os.set_blocking(fd, True)
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f


def read_untrusted(path: Path, limit: int, error: type[Exception], what: str = "file") -> bytes:
    """The bytes of an untrusted file (``open_untrusted``); never more than ``limit``."""
    with open_untrusted(path, limit, error, what) as f:
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise error(f"{Path(path)}: cannot read the {what}: {e.strerror or e}") from None
    if len(data) > limit:
        raise error(f"{path}: grew past the {limit} bytes a {what} may have while being read")
    return data


# -- strict JSON --------------------------------------------------------------------------

#: Deepest nesting of arrays and objects accepted (a run record nests about 6 deep).
MAX_JSON_DEPTH = 64
#: Longest integer accepted, in digits (a byte count of a whole disk has 15).
MAX_JSON_INT_DIGITS = 30


class _Refused(ValueError):
    pass


def _no_constant(token: str) -> Any:
    raise _Refused(f"{token} is not a JSON number (NaN and Infinity are not allowed)")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise _Refused(
            f"an integer of {len(digits.lstrip('-'))} digits (more than {MAX_JSON_INT_DIGITS})"
        )
    return int(digits)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {key!r} in an object")
            seen.add(key)
    return doc


def _has_surrogate(text: str) -> bool:
    return not text.isascii() and any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _check_tree(doc: Any) -> None:
    """Depth and lone surrogates, walked without recursion."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if _has_surrogate(node):
                raise _Refused("a lone surrogate escape in a string (not a Unicode character)")
        elif isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise _Refused(f"nested more than {MAX_JSON_DEPTH} levels deep")
            if isinstance(node, dict):
                for k, v in node.items():
                    if _has_surrogate(k):
                        raise _Refused("a lone surrogate escape in a key")
                    stack.append((v, depth + 1))
            else:
                stack.extend((v, depth + 1) for v in node)


def loads_strict(data: bytes | str, source: str, error: type[Exception]) -> Any:
    """Parse JSON that a reader can trust to be plain data; anything else is ``error``
    naming ``source`` (see the module doc for what is refused)."""
    try:
        doc = json.loads(
            data,
            parse_constant=_no_constant,
            parse_int=_bounded_int,
            object_pairs_hook=_unique_keys,
        )
        _check_tree(doc)
    except json.JSONDecodeError as e:
        raise error(f"{source}: malformed JSON at line {e.lineno}: {e.msg}") from None
    except _Refused as e:
        raise error(f"{source}: refused JSON: {e}") from None
    except RecursionError:
        raise error(f"{source}: refused JSON: nested too deep to read") from None
    except UnicodeDecodeError as e:
        raise error(f"{source}: not UTF-8 text: {e.reason} at byte {e.start}") from None
    except ValueError as e:  # e.g. an integer beyond Python's own digit limit
        raise error(f"{source}: refused JSON: {' '.join(str(e).split())[:200]}") from None
    return doc


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: Largest TOML file read (policies, keys, scales are a few kB).
MAX_TOML_BYTES = 4 * 1024 * 1024


def read_toml(path: Path, error: type[Exception], what: str = "") -> dict[str, Any]:
    """Parse ``path``; an unreadable or malformed file raises ``error`` naming the file."""
    path = Path(path)
    data = read_untrusted(path, MAX_TOML_BYTES, error, what or "TOML file")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text: {e.reason} at byte {e.start}") from None
    except tomllib.TOMLDecodeError as e:
        raise error(f"{path}: malformed TOML: {e}") from None
    except RecursionError:
        raise error(f"{path}: malformed TOML: nested too deep to read") from None
    except ValueError as e:  # an integer beyond Python's digit limit
        raise error(f"{path}: malformed TOML: {' '.join(str(e).split())[:200]}") from None


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
