"""Content-addressed transfer of models and data files to the nodes of a campaign.

A file or folder the driver sends is a blob named by its content: a file by the SHA-256 of
its bytes, a folder by the SHA-256 of its canonical listing (each file's relative path,
SHA-256 and size). Rules enforced here:
- a node keeps what it received in its cache, ``<cache>/blobs/<sha256>/<name>``, and asks
  the driver for a blob only when the cache does not hold it: each blob crosses the network
  at most once per node (and never when the node ships the same bytes itself, such as a
  reference model of its own installation);
- what arrives is hashed again before it is used: bytes that do not match their name are
  refused (``BlobIntegrityError``) and nothing is written;
- a folder travels as an uncompressed tar made deterministically (sorted members, no
  owners, no times); only regular files and folders are unpacked, never links, absolute
  paths or ``..``;
- a cache entry appears in one step (written to a temporary folder, then renamed), so an
  interrupted transfer never leaves a half-written blob that a later run would trust;
- a blob is at most ``MAX_BLOB_BYTES``; a larger data set is refused with that figure.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ecoscore.errors import InputError, IntegrityFailure
from ecoscore.files import file_sha256

#: The largest blob sent to a node (one object in Ray's object store).
MAX_BLOB_BYTES = 1 << 30


class BlobError(InputError):
    """A file or folder cannot be sent: unreadable, too large, or not a file or folder."""


class BlobIntegrityError(IntegrityFailure, BlobError):
    """Bytes that arrived do not match the hash they were sent under."""


class BlobRef(BaseModel):
    """What a node needs to know about a blob to find it or ask for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    name: str = Field(min_length=1, max_length=255)  # file or folder name on the node
    kind: Literal["file", "tree"]
    size_bytes: int = Field(ge=0)


def _files_below(folder: Path) -> list[tuple[str, Path]]:
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            raise BlobError(f"{p}: symbolic links are not sent to nodes; copy the file instead")
        if p.is_file():
            out.append((p.relative_to(folder).as_posix(), p))
    return out


def tree_hash(listing: list[tuple[str, str, int]]) -> str:
    """SHA-256 of a folder's canonical listing: sorted (relative path, sha256, size)."""
    doc = json.dumps(sorted(listing), separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(doc).hexdigest()


def blob_of(path: Path) -> BlobRef:
    """The blob of a file or folder on the driver (hashes its content)."""
    path = Path(path)
    try:
        if path.is_file():
            size = path.stat().st_size
            _check_size(path, size)
            return BlobRef(sha256=file_sha256(path), name=path.name, kind="file", size_bytes=size)
        if path.is_dir():
            listing = []
            total = 0
            for rel, p in _files_below(path):
                size = p.stat().st_size
                total += size
                listing.append((rel, file_sha256(p), size))
            _check_size(path, total)
            return BlobRef(sha256=tree_hash(listing), name=path.name, kind="tree", size_bytes=total)
    except OSError as e:
        raise BlobError(f"{path}: cannot read: {e.strerror or e}") from None
    raise BlobError(f"{path}: no such file or folder")


def _check_size(path: Path, size: int) -> None:
    if size > MAX_BLOB_BYTES:
        raise BlobError(
            f"{path}: {size} bytes is more than a campaign sends to a node "
            f"({MAX_BLOB_BYTES} bytes); install the data on the nodes instead"
        )


def pack(path: Path, ref: BlobRef) -> bytes:
    """The bytes that travel: a file's content, or a folder as a deterministic tar."""
    path = Path(path)
    if ref.kind == "file":
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise BlobError(f"{path}: changed while the campaign was being prepared")
        return data
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, p in _files_below(path):
            data = p.read_bytes()
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _safe_member(name: str) -> bool:
    p = PurePosixPath(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and "\\" not in name


def _unpack(data: bytes, dest: Path, ref: BlobRef) -> None:
    listing = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar.getmembers():
            if not _safe_member(m.name) or not (m.isfile() or m.isdir()):
                raise BlobIntegrityError(
                    f"blob {ref.sha256[:12]} ({ref.name}): member {m.name!r} refused "
                    "(only files and folders inside the blob are unpacked)"
                )
            target = dest / m.name
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            src = tar.extractfile(m)
            assert src is not None
            content = src.read()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            listing.append(
                (
                    PurePosixPath(m.name).as_posix(),
                    hashlib.sha256(content).hexdigest(),
                    len(content),
                )
            )
    if tree_hash(listing) != ref.sha256:
        raise BlobIntegrityError(
            f"blob {ref.sha256[:12]} ({ref.name}): the folder that arrived does not match its hash"
        )


class NodeCache:
    """A node's store of received blobs, ``<root>/blobs/<sha256>/<name>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, ref: BlobRef) -> Path:
        return self.root / "blobs" / ref.sha256 / ref.name

    def has(self, ref: BlobRef) -> bool:
        return self.path_for(ref).exists()

    def store(self, ref: BlobRef, data: bytes) -> Path:
        """Check ``data`` against ``ref`` and keep it; return its path on this node."""
        final = self.root / "blobs" / ref.sha256
        if ref.kind == "file" and hashlib.sha256(data).hexdigest() != ref.sha256:
            raise BlobIntegrityError(
                f"blob {ref.sha256[:12]} ({ref.name}): the bytes that arrived do not match "
                "their hash; nothing was kept"
            )
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{ref.sha256[:12]}.", dir=final.parent))
        try:
            if ref.kind == "file":
                (tmp / ref.name).write_bytes(data)
            else:
                _unpack(data, tmp / ref.name, ref)
                (tmp / ref.name).mkdir(exist_ok=True)
            try:
                os.rename(tmp, final)
            except OSError:
                if not self.has(ref):  # not a concurrent arrival of the same blob
                    raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(tmp)
        return self.path_for(ref)
