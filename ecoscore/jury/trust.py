"""Trusted signing keys: the public keys whose signatures a jury accepts.

A trusted-keys file is TOML with one ``[[keys]]`` table per key::

    [[keys]]
    name = "Lab A (2026 call)"
    public_key_b64 = "base64 of the 32-byte raw ed25519 public key"

The same ``[[keys]]`` tables may appear in a jury policy file (ecoscore.jury.policy).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecoscore.files import read_toml

ED25519_PUBLIC_KEY_BYTES = 32


class TrustError(Exception):
    """A trusted-keys file or table is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class TrustedKey:
    name: str
    public_key_b64: str

    @property
    def key_id(self) -> str:
        return key_id_of(decode_public_key(self.public_key_b64, self.name))


@dataclass(frozen=True)
class TrustedKeys:
    keys: tuple[TrustedKey, ...]
    source: str

    def name_for(self, public_key_b64: str) -> str | None:
        """The name a trusted key was given, or None when the key is not trusted."""
        try:
            raw = decode_public_key(public_key_b64, "signature")
        except TrustError:
            return None
        for key in self.keys:
            if decode_public_key(key.public_key_b64, key.name) == raw:
                return key.name
        return None


def key_id_of(raw_public_key: bytes) -> str:
    """A short identifier of a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(raw_public_key).hexdigest()[:16]


def decode_public_key(public_key_b64: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
    except (binascii.Error, ValueError):
        raise TrustError(f"{where}: public_key_b64 is not valid base64") from None
    if len(raw) != ED25519_PUBLIC_KEY_BYTES:
        raise TrustError(
            f"{where}: public_key_b64 decodes to {len(raw)} bytes; an ed25519 public key has "
            f"{ED25519_PUBLIC_KEY_BYTES}"
        )
    return raw


def parse_keys(doc: dict[str, Any], source: str) -> TrustedKeys:
    """The ``[[keys]]`` tables of a parsed TOML document (none is an empty set)."""
    tables = doc.get("keys", [])
    if not isinstance(tables, list):
        raise TrustError(f"{source}: 'keys' must be an array of tables ([[keys]])")
    keys: list[TrustedKey] = []
    for i, table in enumerate(tables):
        where = f"{source}: keys[{i}]"
        if not isinstance(table, dict):
            raise TrustError(f"{where}: expected a table")
        name, b64 = table.get("name"), table.get("public_key_b64")
        if not isinstance(name, str) or not name.strip():
            raise TrustError(f"{where}: missing or empty field 'name'")
        if not isinstance(b64, str):
            raise TrustError(f"{where} ({name}): missing field 'public_key_b64'")
        decode_public_key(b64, f"{where} ({name})")
        keys.append(TrustedKey(name=name.strip(), public_key_b64=b64))
    return TrustedKeys(keys=tuple(keys), source=source)


def load_trusted_keys(path: Path) -> TrustedKeys:
    path = Path(path)
    doc = read_toml(path, TrustError, "trusted-keys file")
    return parse_keys(doc, str(path))


def trusted_keys_toml(name: str, public_key_b64: str) -> str:
    """A ``[[keys]]`` entry to paste into a trusted-keys or policy file."""
    # A JSON string literal is a valid TOML basic string (same escapes).
    return f'[[keys]]\nname = {json.dumps(name)}\npublic_key_b64 = "{public_key_b64}"\n'
