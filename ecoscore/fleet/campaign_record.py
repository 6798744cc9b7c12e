"""The campaign record: what a campaign planned, which node ran what, every attempt and every
failure, in one validated JSON document, ``results/campaigns/<name>/campaign.json``.

Rules enforced here:
- a pydantic model with a ``schema_version``; its ``record_id`` is the SHA-256 of its
  canonical content without ``record_id`` and ``signature`` (as for run records), checked
  on every load: a campaign record edited by hand is refused (exit 5);
- it is rewritten atomically after every event of a run (a driver stopped at any point
  leaves a complete record of what happened until then); a rewrite drops an earlier
  signature, which no longer covers the content;
- it is signed like a run record, with ed25519 over its record_id, under a domain tag of its
  own (``ecoscore-campaign-v1:``) so that a campaign signature can never pass for a run
  record's signature, nor the other way round.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ecoscore.files import write_atomic
from ecoscore.fleet.errors import CampaignIntegrityError, CampaignRecordError
from ecoscore.record import RecordWriteError, Signature, content_hash

SCHEMA_VERSION = "1.0"
CAMPAIGN_SIGNATURE_DOMAIN = b"ecoscore-campaign-v1:"
MAX_CAMPAIGN_RECORD_BYTES = 64 * 1024 * 1024
FILE_NAME = "campaign.json"

Outcome = Literal[
    "running", "record", "lost", "error", "rejected", "interrupted", "timeout", "unschedulable"
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NodeSeen(_Model):
    node_id: str
    hostname: str
    device_class: str
    advertised_device: str | None = None  # what `ecoscore node start --device` said
    ecoscore_version: str
    first_seen_utc: str
    attempts: int = 0
    blobs_fetched: list[str] = Field(default_factory=list)  # sha256 of what it received


class Attempt(_Model):
    session: int  # index in ``sessions``
    node_id: str | None = None
    hostname: str | None = None
    submitted_utc: str
    started_utc: str | None = None
    finished_utc: str | None = None
    outcome: Outcome = "running"
    detail: str | None = None
    run_s: float | None = None  # the run itself, timed on the node


class EntryRecord(_Model):
    entry: str  # the entry hash
    device_class: str
    workload: str
    model_name: str
    model_sha256: str
    data_sha256: str | None
    engine: str
    engine_settings: dict[str, Any]
    engine_device: str
    meter: str
    repeats: int | None
    quick: bool
    replicate: int
    state: Literal["pending", "running", "done", "failed"] = "pending"
    record_id: str | None = None
    verification: str | None = None  # what the arrival check said
    failure: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)


class Failure(_Model):
    entry: str
    device_class: str
    label: str
    reason: str


class DriverSession(_Model):
    started_utc: str
    finished_utc: str | None = None
    state: Literal["running", "completed", "incomplete", "interrupted"] = "running"
    campaign_file: str
    campaign_file_sha256: str
    command_line: list[str]
    cluster: str  # the address joined, or "embedded"
    ecoscore_version: str
    ray_version: str
    entries_planned: int
    entries_in_store: int  # skipped: their verified record was already in the store


class CampaignRecord(_Model):
    schema_version: Literal["1.0"] = SCHEMA_VERSION
    record_type: Literal["campaign"] = "campaign"
    record_id: str = ""
    campaign: str
    description: str | None = None
    sessions: list[DriverSession] = Field(default_factory=list)
    nodes: list[NodeSeen] = Field(default_factory=list)
    entries: list[EntryRecord] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)
    signature: Signature | None = None

    def content_sha256(self) -> str:
        return content_hash(self.model_dump(mode="json"))

    def with_id(self) -> CampaignRecord:
        return self.model_copy(update={"record_id": self.content_sha256()})

    def entry(self, entry_hash: str) -> EntryRecord | None:
        return next((e for e in self.entries if e.entry == entry_hash), None)

    def node(self, node_id: str) -> NodeSeen | None:
        return next((n for n in self.nodes if n.node_id == node_id), None)

    def refresh_failures(self) -> None:
        self.failures = [
            Failure(
                entry=e.entry,
                device_class=e.device_class,
                label=f"{e.workload} / {e.model_name}",
                reason=e.failure or "failed",
            )
            for e in self.entries
            if e.state == "failed"
        ]


def record_bytes(record: CampaignRecord) -> bytes:
    return json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False).encode() + b"\n"


def save_campaign_record(
    record: CampaignRecord, folder: Path, keep_signature: bool = False
) -> Path:
    """Write ``<folder>/campaign.json`` atomically with a fresh record_id."""
    if not keep_signature:
        record.signature = None
    record.refresh_failures()
    record.record_id = record.content_sha256()
    path = Path(folder) / FILE_NAME
    try:
        write_atomic(path, record_bytes(record))
    except OSError as e:
        raise RecordWriteError(
            f"cannot write the campaign record to {path}: {e.strerror or e}; the previous "
            "one is untouched"
        ) from None
    return path


def load_campaign_record(path: Path) -> CampaignRecord:
    """Read, validate and integrity-check a campaign record."""
    path = Path(path)
    if path.is_dir():
        path = path / FILE_NAME
    try:
        if path.stat().st_size > MAX_CAMPAIGN_RECORD_BYTES:
            raise CampaignRecordError(f"{path}: larger than a campaign record can be")
        doc = json.loads(path.read_bytes())
    except OSError as e:
        raise CampaignRecordError(f"{path}: cannot read: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CampaignRecordError(f"{path}: malformed JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("record_type") != "campaign":
        raise CampaignRecordError(f"{path}: not a campaign record")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise CampaignRecordError(
            f"{path}: schema_version {doc.get('schema_version')!r} is not supported "
            f"(this ecoscore reads {SCHEMA_VERSION!r})"
        )
    try:
        record = CampaignRecord.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CampaignRecordError(
            f"{path}: invalid campaign record at '{where}': {first['msg']}"
        ) from None
    expected = content_hash(doc)
    if record.record_id != expected:
        raise CampaignIntegrityError(
            f"{path}: integrity check failed: content hash {expected[:12]} does not match "
            f"record_id {record.record_id[:12] or '(empty)'}; the campaign record was edited"
        )
    return record


def signing_message(record_id: str) -> bytes:
    return CAMPAIGN_SIGNATURE_DOMAIN + record_id.encode("ascii")


def sign_campaign(record: CampaignRecord, private_key: Any) -> CampaignRecord:
    """The record with an ed25519 signature over its record_id (checked first)."""
    from cryptography.hazmat.primitives import serialization

    from ecoscore.jury.signing import SigningError
    from ecoscore.jury.trust import key_id_of

    if record.record_id != record.content_sha256():
        raise SigningError(
            f"campaign {record.campaign}: the record fails its integrity check; not signed"
        )
    raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    sig = private_key.sign(signing_message(record.record_id))
    signed = record.model_copy(deep=True)
    signed.signature = Signature(
        algorithm="ed25519",
        public_key_b64=base64.b64encode(raw).decode("ascii"),
        key_id=key_id_of(raw),
        signature_b64=base64.b64encode(sig).decode("ascii"),
    )
    return signed


def check_campaign_signature(record: CampaignRecord, trusted: Any | None) -> Any:
    """A ``SignatureCheck`` (ecoscore.jury.signing) of the campaign record's signature."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from ecoscore.jury.signing import SignatureCheck
    from ecoscore.jury.trust import TrustError, decode_public_key, key_id_of

    sig = record.signature
    if sig is None:
        return SignatureCheck("unsigned", None, None, "no signature")
    try:
        raw = decode_public_key(sig.public_key_b64, "signature")
        Ed25519PublicKey.from_public_bytes(raw).verify(
            base64.b64decode(sig.signature_b64, validate=True), signing_message(record.record_id)
        )
    except InvalidSignature:
        return SignatureCheck("invalid", sig.key_id, None, "invalid signature")
    except (TrustError, ValueError) as e:
        return SignatureCheck("invalid", sig.key_id, None, f"invalid signature: {e}")
    key_id = key_id_of(raw)
    if key_id != sig.key_id:
        return SignatureCheck("invalid", sig.key_id, None, "key_id does not match the key")
    if trusted is None:
        return SignatureCheck("unchecked", key_id, None, f"valid signature by key {key_id}")
    name = trusted.name_for(sig.public_key_b64)
    if name is None:
        return SignatureCheck("untrusted", key_id, None, f"signed by key {key_id}, not trusted")
    return SignatureCheck("trusted", key_id, name, f"signed by trusted key {name!r} ({key_id})")
