"""Submission bundles: records, their labels and an environment description in one zip,
with a manifest of the SHA-256 of every member.

Layout of a bundle::

    manifest.json          format, creation time, applicant, category, members (sha256, size)
    manifest.sig           the applicant's ed25519 signature of the manifest (optional)
    environment.json       python, OS, machine, installed package versions
    records/<id>.json      the record files, byte for byte as given
    labels/<id>.svg        the eco-score label of each record (when it can be drawn)
    logs/<sha256>.csv      the external power log a record's energy comes from, as it was
                           read (its first ``log_size_bytes`` bytes)
    workloads/<sha256>.toml  the workload file a record was run from (``--workload-file``),
                           named by the SHA-256 of its bytes; required for such a record

A bundle's identity is the sha256 of its manifest (which lists every member's sha256): two
files with the same name are two submissions, and the same bundle under two names is one.
The manifest signature binds the applicant and category to the key that signed it; a
record inside that is signed by another key is flagged by ``compare``.

A bundle is untrusted input. Reading it never extracts anything to disk; the archive
must be a regular file of at most ``MAX_ARCHIVE_BYTES``; members are read into memory with
limits on their count, total uncompressed size and compression ratio, a record member may
not be larger than a record file (``MAX_RECORD_BYTES``, checked on its header before it is
read), and names with ``..``, absolute paths, drive letters or backslashes, symbolic links
and duplicate names are refused. Its JSON (manifest, signature, records) is read strictly
(``ecoscore.files.loads_strict``).
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import stat
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from ecoscore.errors import InputError, IntegrityFailure
from ecoscore.files import loads_strict, open_untrusted, read_untrusted, write_output
from ecoscore.record import (
    MAX_RECORD_BYTES,
    RecordError,
    RunRecord,
    Signature,
    load_record,
    parse_record,
    record_doc,
)

BUNDLE_FORMAT = "ecoscore-bundle"
BUNDLE_VERSION = 2
READABLE_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
MANIFEST_SIGNATURE = "manifest.sig"
#: Signatures of bundle manifests can never pass as record signatures, nor the reverse.
MANIFEST_DOMAIN = b"ecoscore-bundle-v1:"
ENVIRONMENT = "environment.json"
WORKLOADS_DIR = "workloads"
#: Limits applied when reading a bundle.
MAX_MEMBERS = 2000
MAX_TOTAL_BYTES = 256 * 1024 * 1024
MAX_MEMBER_BYTES = 32 * 1024 * 1024
MAX_RATIO = 100.0  # uncompressed / compressed, for members larger than RATIO_MIN_BYTES
#: Largest archive opened (the compressed file).
MAX_ARCHIVE_BYTES = MAX_TOTAL_BYTES
RATIO_MIN_BYTES = 64 * 1024
CATEGORY_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


class BundleError(InputError):
    """A bundle cannot be written or is refused on reading; names the archive and member."""


class BundleIntegrityError(IntegrityFailure, BundleError):
    """A member does not match the SHA-256 the manifest gives for it."""


@dataclass
class Bundle:
    path: Path
    manifest: dict[str, Any]
    members: dict[str, bytes] = field(default_factory=dict)
    manifest_sha256: str = ""
    signature: Signature | None = None  # verified when read (invalid ones are refused)

    @property
    def bundle_id(self) -> str:
        return self.manifest_sha256

    def log(self, sha256: str) -> bytes | None:
        """The power log with this sha256, if the bundle carries it."""
        return self.members.get(f"logs/{sha256}.csv")

    @property
    def applicant(self) -> str | None:
        v = self.manifest.get("applicant")
        return v if isinstance(v, str) else None

    @property
    def category(self) -> str | None:
        v = self.manifest.get("category")
        return v if isinstance(v, str) else None

    def record_names(self) -> list[str]:
        return sorted(n for n in self.members if n.startswith("records/") and n.endswith(".json"))

    def workload_file(self, sha256: str) -> bytes | None:
        """The bundled workload file with this SHA-256 (None when absent)."""
        return self.members.get(f"{WORKLOADS_DIR}/{sha256}.toml")

    def doc(self, name: str) -> object:
        """The record member ``name`` as strict JSON (not yet validated)."""
        return record_doc(self.members[name], f"{self.path}:{name}")

    def parse(self, name: str) -> RunRecord:
        """Validate and integrity-check the record member ``name``."""
        return parse_record(self.doc(name), f"{self.path}:{name}")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def environment_description() -> dict[str, Any]:
    from importlib import metadata

    packages = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            packages[name] = dist.version
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": Path(sys.executable).name,
        "os": platform.platform(),
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "packages": dict(sorted(packages.items(), key=lambda kv: kv[0].lower())),
    }


def check_category(category: str | None) -> None:
    if category is not None and (not category or not set(category) <= CATEGORY_CHARS):
        raise BundleError(
            f"category {category!r}: use lower-case letters, digits, '-' or '_' (e.g. 'sme')"
        )


def write_bundle(
    records: list[Path],
    out: Path,
    applicant: str | None = None,
    category: str | None = None,
    draw_label: Callable[[RunRecord], bytes] | None = None,
    key: object | None = None,
    workload_files: list[Path] | None = None,
) -> Path:
    """Check each record (schema and integrity), then write the bundle atomically.
    ``draw_label`` gives a record's label as SVG bytes (none: no labels); ``key`` (an
    ed25519 private key) signs the manifest. A record whose energy comes from an external
    power log brings that log, checked against the sha256 the record states; a record run
    from a workload file needs that file among ``workload_files`` (matched by SHA-256)."""
    check_category(category)
    if not records:
        raise BundleError("no records to bundle")
    members: dict[str, bytes] = {}
    files = {sha256_hex(b): b for b in (Path(f).read_bytes() for f in workload_files or [])}
    for path in records:
        record = load_record(path)
        name = f"records/{record.record_id}.json"
        if name in members:
            raise BundleError(f"{path}: record {record.record_id[:12]} is given twice")
        members[name] = read_untrusted(Path(path), MAX_RECORD_BYTES, RecordError, "run record")
        wanted = record.workload.definition_file_sha256
        if wanted is not None:
            if wanted not in files:
                raise BundleError(
                    f"{path}: the record ran the workload file {record.workload.definition_file}"
                    f" (sha256 {wanted[:12]}); give that file with --workload-file"
                )
            members[f"{WORKLOADS_DIR}/{wanted}.toml"] = files[wanted]
        if draw_label is not None:
            members[f"labels/{record.record_id}.svg"] = draw_label(record)
        if record.meter.log_sha256:
            members[f"logs/{record.meter.log_sha256}.csv"] = _power_log(record, path)
    members[ENVIRONMENT] = _json_bytes(environment_description())
    manifest = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "applicant": applicant,
        "category": category,
        "members": {
            n: {"sha256": sha256_hex(d), "size_bytes": len(d)} for n, d in sorted(members.items())
        },
    }
    manifest_bytes = _json_bytes(manifest)
    if key is not None:
        from ecoscore.jury.signing import sign_digest

        sig = sign_digest(key, sha256_hex(manifest_bytes), MANIFEST_DOMAIN)
        members[MANIFEST_SIGNATURE] = _json_bytes(sig.model_dump(mode="json"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(MANIFEST, manifest_bytes)
        for n, d in sorted(members.items()):
            z.writestr(n, d)
    return write_output(Path(out), buf.getvalue(), "bundle")


#: Largest power log file opened when bundling (its first ``log_size_bytes`` are read).
MAX_LOG_BYTES = 1024 * 1024 * 1024


def _power_log(record: RunRecord, record_path: Path) -> bytes:
    """The power log a record's energy comes from, as it was read during the run."""
    cfg = record.meter.config or {}
    where = cfg.get("path")
    if not isinstance(where, str):
        raise BundleError(f"{record_path}: the record names no power log file to include")
    log = Path(where)
    size = record.meter.log_size_bytes
    if size is None or not 0 <= size <= MAX_MEMBER_BYTES:
        raise BundleError(
            f"{record_path}: the record gives no usable log_size_bytes ({size}) for its power log"
        )
    try:
        with open_untrusted(log, MAX_LOG_BYTES, BundleError, "power log") as f:
            data = f.read(size)
    except BundleError as e:
        raise BundleError(
            f"{record_path}: its power log cannot be read ({e}); a bundle must carry the log "
            "its energy comes from"
        ) from None
    if sha256_hex(data) != record.meter.log_sha256:
        raise BundleError(
            f"{record_path}: the power log {log} is not the one the record was measured with "
            f"(sha256 {sha256_hex(data)[:12]}, the record says {str(record.meter.log_sha256)[:12]})"
        )
    return data


def _json_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n"


def check_member_name(name: str, where: str) -> None:
    """Refuse names that could escape a folder if extracted."""
    if not name or "\\" in name or "\x00" in name:
        raise BundleError(f"{where}: member name {name!r} is not allowed")
    p = PurePosixPath(name)
    if p.is_absolute() or name.startswith("/"):
        raise BundleError(f"{where}: member {name!r} has an absolute path; refused")
    if ".." in p.parts:
        raise BundleError(f"{where}: member {name!r} contains '..' (path traversal); refused")
    if len(p.parts) > 0 and ":" in p.parts[0]:
        raise BundleError(f"{where}: member {name!r} names a drive; refused")


def _check_info(info: zipfile.ZipInfo, where: str) -> None:
    check_member_name(info.filename, where)
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise BundleError(f"{where}: member {info.filename!r} is a symbolic link; refused")
    if info.file_size > MAX_MEMBER_BYTES:
        raise BundleError(
            f"{where}: member {info.filename!r} is {info.file_size} bytes uncompressed "
            f"(limit {MAX_MEMBER_BYTES})"
        )
    if info.filename.startswith("records/") and info.file_size > MAX_RECORD_BYTES:
        raise BundleError(
            f"{where}: record member {info.filename!r} is {info.file_size} bytes, larger than "
            f"a run record can be ({MAX_RECORD_BYTES}); refused before reading"
        )
    if info.file_size > RATIO_MIN_BYTES:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > MAX_RATIO:
            raise BundleError(
                f"{where}: member {info.filename!r} has a compression ratio of {ratio:.0f} "
                f"(limit {MAX_RATIO:g}); refused as a possible zip bomb"
            )


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> bytes:
    """Read at most the declared size (+1 to detect a lying header)."""
    with z.open(info) as f:
        data = f.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise BundleError(f"{where}: member {info.filename!r} is not the size its header says")
    return data


def read_bundle(path: Path) -> Bundle:
    """Open a bundle with the safety limits, and check the manifest against the members."""
    path = Path(path)
    where = str(path)
    with open_untrusted(path, MAX_ARCHIVE_BYTES, BundleError, "bundle") as f:
        members = _read_members(f, where)
    manifest_bytes = members.pop(MANIFEST, None)
    if manifest_bytes is None:
        raise BundleError(f"{where}: no {MANIFEST}; not an ecoscore bundle")
    manifest = _parse_manifest(manifest_bytes, where)
    sig_bytes = members.pop(MANIFEST_SIGNATURE, None)
    _check_manifest(manifest, members, where)
    digest = sha256_hex(manifest_bytes)
    signature = _manifest_signature(sig_bytes, digest, where) if sig_bytes is not None else None
    return Bundle(path, manifest, members, digest, signature)


def _read_members(f: Any, where: str) -> dict[str, bytes]:
    if not zipfile.is_zipfile(f):
        raise BundleError(f"{where}: not a zip archive")
    try:
        with zipfile.ZipFile(f) as z:
            infos = z.infolist()
            if len(infos) > MAX_MEMBERS:
                raise BundleError(f"{where}: {len(infos)} members (limit {MAX_MEMBERS})")
            total = sum(i.file_size for i in infos)
            if total > MAX_TOTAL_BYTES:
                raise BundleError(
                    f"{where}: {total} bytes uncompressed in all (limit {MAX_TOTAL_BYTES})"
                )
            members: dict[str, bytes] = {}
            for info in infos:
                _check_info(info, where)
                if info.is_dir():
                    continue
                if info.filename in members:
                    raise BundleError(f"{where}: member {info.filename!r} appears twice")
                members[info.filename] = _read_member(z, info, where)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as e:
        raise BundleError(f"{where}: corrupt archive: {e}") from None
    return members


def _manifest_signature(data: bytes, digest: str, where: str) -> Signature:
    from pydantic import ValidationError

    from ecoscore.jury.signing import check_digest_signature

    doc = loads_strict(data, f"{where}: {MANIFEST_SIGNATURE}", BundleError)
    try:
        sig = Signature.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise BundleError(
            f"{where}: {MANIFEST_SIGNATURE} is not a signature: {key}: {first['msg']}"
        ) from None
    check = check_digest_signature(sig, digest, MANIFEST_DOMAIN, None, "the manifest")
    if check.state == "invalid":
        raise BundleIntegrityError(f"{where}: {MANIFEST_SIGNATURE}: {check.detail}")
    return sig


def _parse_manifest(data: bytes, where: str) -> dict[str, Any]:
    doc = loads_strict(data, f"{where}: {MANIFEST}", BundleError)
    if not isinstance(doc, dict) or doc.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{where}: {MANIFEST} is not an {BUNDLE_FORMAT} manifest")
    if doc.get("version") not in READABLE_VERSIONS:
        raise BundleError(
            f"{where}: bundle version {doc.get('version')!r} is not supported "
            f"(this ecoscore reads {', '.join(map(str, READABLE_VERSIONS))})"
        )
    if not isinstance(doc.get("members"), dict):
        raise BundleError(f"{where}: {MANIFEST} has no 'members' table")
    category = doc.get("category")
    if category is not None and not isinstance(category, str):
        raise BundleError(f"{where}: {MANIFEST}: 'category' must be a string")
    return doc


def _check_manifest(manifest: dict[str, Any], members: dict[str, bytes], where: str) -> None:
    listed: dict[str, Any] = manifest["members"]
    for name in members:
        if name not in listed:
            raise BundleError(f"{where}: member {name!r} is not listed in {MANIFEST}")
    for name, entry in listed.items():
        if name not in members:
            raise BundleError(f"{where}: {MANIFEST} lists {name!r}, which is missing")
        want = entry.get("sha256") if isinstance(entry, dict) else None
        got = sha256_hex(members[name])
        if want != got:
            raise BundleIntegrityError(
                f"{where}: member {name!r} has sha256 {got[:12]}, the manifest says "
                f"{str(want)[:12]}; the bundle was altered"
            )
