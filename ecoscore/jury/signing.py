"""ed25519 signatures of run records.

What is signed is the record's ``record_id`` (the SHA-256 of its content), prefixed with a
domain tag so that a signature made for something else can never pass as a record
signature::

    message = b"ecoscore-record-v1:" + record_id (ASCII hex)

The signature is stored in the record's ``signature`` field, which the content hash leaves
out, so signing does not change the record_id. A signature proves who vouched for the
content; whether that someone is trusted is a separate question (ecoscore.jury.trust).
"""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ecoscore.errors import InputError, OutputError
from ecoscore.files import read_untrusted, write_atomic
from ecoscore.jury.trust import TrustedKeys, TrustError, decode_public_key, key_id_of
from ecoscore.record import RunRecord, Signature

SIGNATURE_DOMAIN = b"ecoscore-record-v1:"
PRIVATE_KEY_SUFFIX = ".key"
PUBLIC_KEY_SUFFIX = ".pub"
#: Largest key file read (a PEM ed25519 key is about 120 bytes).
MAX_KEY_BYTES = 64 * 1024


class SigningError(InputError):
    """A key cannot be created, read or used; the message names the file."""


class KeyExistsError(OutputError, SigningError):
    """A key pair is not written over an existing key (a result that cannot be written)."""


SignatureState = Literal["unsigned", "invalid", "untrusted", "trusted", "unchecked"]


@dataclass(frozen=True)
class SignatureCheck:
    """``trusted``: valid, by a trusted key. ``untrusted``: valid, by a key not in the trusted
    set. ``unchecked``: valid, but no trusted set was given. ``invalid``: does not verify."""

    state: SignatureState
    key_id: str | None
    signer: str | None  # name of the trusted key
    detail: str

    @property
    def ok(self) -> bool:
        return self.state in ("trusted", "unchecked")


def signing_message(record_id: str, domain: bytes = SIGNATURE_DOMAIN) -> bytes:
    return domain + record_id.encode("ascii")


def _raw_public(private_key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private_key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def generate_key_pair(out_prefix: Path) -> tuple[Path, Path, str]:
    """Write ``<prefix>.key`` (PKCS#8 PEM, mode 0600) and ``<prefix>.pub`` (base64 of the
    raw public key). Existing files are never overwritten. Returns (key, pub, public b64)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    out_prefix = Path(out_prefix)
    key_path = out_prefix.with_name(out_prefix.name + PRIVATE_KEY_SUFFIX)
    pub_path = out_prefix.with_name(out_prefix.name + PUBLIC_KEY_SUFFIX)
    for p in (key_path, pub_path):
        if p.exists():
            raise KeyExistsError(f"{p}: already exists; refusing to overwrite a key")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_b64 = base64.b64encode(_raw_public(private)).decode("ascii")
    key_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        key_path.unlink(missing_ok=True)
        raise
    os.chmod(key_path, 0o600)  # the umask may have narrowed it further; never widened
    write_atomic(pub_path, (public_b64 + "\n").encode("ascii"))
    os.chmod(pub_path, 0o644)
    return key_path, pub_path, public_b64


def load_private_key(path: Path) -> object:
    """Read an ed25519 private key (PEM). Refused when group or others can read it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as e:
        raise SigningError(f"{path}: cannot read the private key: {e.strerror}") from None
    data = read_untrusted(path, MAX_KEY_BYTES, SigningError, "private key")
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningError(
            f"{path}: private key is accessible to other users (mode {stat.S_IMODE(mode):o}); "
            f"run `chmod 600 {path}`"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise SigningError(f"{path}: not an unencrypted PEM private key: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: not an ed25519 private key")
    return key


def sign_digest(private_key: object, digest: str, domain: bytes) -> Signature:
    """An ed25519 signature over ``domain + digest`` (a hex content hash)."""
    raw_pub = _raw_public(private_key)
    sig = private_key.sign(signing_message(digest, domain))  # type: ignore[attr-defined]
    return Signature(
        algorithm="ed25519",
        public_key_b64=base64.b64encode(raw_pub).decode("ascii"),
        key_id=key_id_of(raw_pub),
        signature_b64=base64.b64encode(sig).decode("ascii"),
    )


def sign_record(record: RunRecord, private_key: object) -> RunRecord:
    """The record with a signature over its record_id (checked against its content first)."""
    expected = record.content_sha256()
    if record.record_id != expected:
        raise SigningError(
            f"record {record.record_id[:12] or '(no id)'}: content hash {expected[:12]} does not "
            "match; refusing to sign a record that fails its integrity check"
        )
    signature = sign_digest(private_key, record.record_id, SIGNATURE_DOMAIN)
    return record.model_copy(update={"signature": signature})


def check_signature(record: RunRecord, trusted: TrustedKeys | None) -> SignatureCheck:
    """Verify the record's signature, then look its key up in ``trusted`` (if given)."""
    if record.signature is None:
        return SignatureCheck("unsigned", None, None, "no signature")
    return check_digest_signature(
        record.signature, record.record_id, SIGNATURE_DOMAIN, trusted, "the record_id"
    )


def check_digest_signature(
    sig: Signature, digest: str, domain: bytes, trusted: TrustedKeys | None, what: str
) -> SignatureCheck:
    """Verify a signature over ``domain + digest``, then look its key up in ``trusted``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = decode_public_key(sig.public_key_b64, "signature")
        signature = base64.b64decode(sig.signature_b64, validate=True)
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, signing_message(digest, domain))
    except InvalidSignature:
        return SignatureCheck(
            "invalid", sig.key_id, None, f"invalid signature: it does not match {what}"
        )
    except (TrustError, ValueError) as e:
        return SignatureCheck("invalid", sig.key_id, None, f"invalid signature: {e}")
    key_id = key_id_of(raw)
    if key_id != sig.key_id:
        return SignatureCheck(
            "invalid", sig.key_id, None, f"key_id {sig.key_id} does not match the key ({key_id})"
        )
    if trusted is None:
        return SignatureCheck("unchecked", key_id, None, f"valid signature by key {key_id}")
    name = trusted.name_for(sig.public_key_b64)
    if name is None:
        return SignatureCheck(
            "untrusted", key_id, None, f"signed by key {key_id}, which is not in {trusted.source}"
        )
    return SignatureCheck("trusted", key_id, name, f"signed by trusted key {name!r} ({key_id})")


def record_bytes(record: RunRecord) -> bytes:
    """The JSON file form of a record (as ecoscore.record.save_record writes it)."""
    from ecoscore.record import record_json

    return record_json(record)
