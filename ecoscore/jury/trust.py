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
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ecoscore.errors import InputError, OutputError
from ecoscore.files import toml_model

ED25519_PUBLIC_KEY_BYTES = 32


class TrustError(InputError):
    """A trusted-keys file or table is invalid; the message names the file and the field."""


class TrustWriteError(OutputError):
    """A trusted-keys file could not be written; it was left as it was."""


class TrustedKey(BaseModel):
    """One ``[[keys]]`` table: a name and an ed25519 public key (base64 of its 32 bytes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    public_key_b64: str

    @field_validator("public_key_b64")
    @classmethod
    def _is_an_ed25519_key(cls, v: str) -> str:
        try:
            decode_public_key(v, "public_key_b64")
        except TrustError as e:
            raise ValueError(str(e)) from None
        return v

    @property
    def raw(self) -> bytes:
        return decode_public_key(self.public_key_b64, self.name)

    @property
    def key_id(self) -> str:
        return key_id_of(self.raw)


class TrustedKeys(BaseModel):
    """The keys a jury trusts. A name names one key and a key has one name, so that a
    report's "signed by" can never be ambiguous."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    keys: tuple[TrustedKey, ...] = Field(default=())
    source: str = ""

    @model_validator(mode="after")
    def _one_name_one_key(self) -> TrustedKeys:
        names: dict[str, bytes] = {}
        for key in self.keys:
            other = names.get(key.name)
            if other is not None and other != key.raw:
                raise ValueError(f"two different keys are named {key.name!r}")
            holder = next((n for n, raw in names.items() if raw == key.raw), None)
            if holder is not None and holder != key.name:
                raise ValueError(f"one key is listed under two names: {holder!r} and {key.name!r}")
            names[key.name] = key.raw
        return self

    def name_for(self, public_key_b64: str) -> str | None:
        """The name a trusted key was given, or None when the key is not trusted."""
        try:
            raw = decode_public_key(public_key_b64, "signature")
        except TrustError:
            return None
        return next((k.name for k in self.keys if k.raw == raw), None)

    def merged(self, other: TrustedKeys) -> TrustedKeys:
        """Both sets of keys (a jury's trusted-keys file and its policy's ``[[keys]]``)."""
        sources = " and ".join(s for s in (self.source, other.source) if s)
        try:
            return TrustedKeys(keys=self.keys + other.keys, source=sources)
        except ValueError as e:
            raise TrustError(f"{sources}: {e}") from None


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


def load_trusted_keys(path: Path) -> TrustedKeys:
    path = Path(path)
    keys = toml_model(path, TrustedKeys, TrustError, "trusted-keys file")
    return keys.model_copy(update={"source": str(path)})


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string: quotes, backslashes and control characters escaped;
    every other character, inside or outside the Basic Multilingual Plane, kept as is."""
    out = []
    for ch in text:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise TrustError(f"{text!r}: a lone surrogate cannot be written to a TOML file")
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def trusted_keys_toml(name: str, public_key_b64: str) -> str:
    """A ``[[keys]]`` entry to paste into a trusted-keys or policy file."""
    return f"[[keys]]\nname = {toml_string(name)}\npublic_key_b64 = {toml_string(public_key_b64)}\n"


def read_public_key_file(path: Path) -> str:
    """The base64 public key of a ``.pub`` file written by ``ecoscore keys``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) else "not an ASCII file"
        raise TrustError(f"{path}: cannot read the public key: {why}") from None
    decode_public_key(text, str(path))
    return text


def add_trusted_key(path: Path, name: str, public_key_b64: str) -> str:
    """Append a ``[[keys]]`` entry to the trusted-keys (or policy) file ``path``, creating
    it if needed; return the entry. The file is validated first and rewritten atomically
    with the entry appended (its text otherwise unchanged). Refused: a name that is already
    there, or a key that is already there (one name, one key)."""
    from ecoscore.files import validate_doc, write_atomic

    path = Path(path)
    try:
        new = TrustedKey(name=name, public_key_b64=public_key_b64)
    except ValueError as e:
        raise TrustError(f"{path}: cannot add {name!r}: {e.errors()[0]['msg']}") from None
    entry = trusted_keys_toml(new.name, public_key_b64)
    if path.exists():
        current = load_trusted_keys(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise TrustError(f"{path}: cannot read: {e.strerror}") from None
    else:
        current = TrustedKeys(source=str(path))
        text = "# Keys whose signatures this jury trusts (ecoscore trust add NAME KEY.pub).\n"
    for key in current.keys:
        if key.name == new.name:
            same = "this key" if key.raw == new.raw else "another key"
            raise TrustError(f"{path}: the name {new.name!r} is already there, for {same}")
        if key.raw == new.raw:
            raise TrustError(f"{path}: this key is already there, named {key.name!r}")
    if text and not text.endswith("\n"):
        text += "\n"
    text += ("\n" if text.strip() else "") + entry
    import tomllib

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:  # the file ended inside a value: do not touch it
        raise TrustError(f"{path}: appending the entry would break the file: {e}") from None
    validate_doc(doc, TrustedKeys, TrustError, str(path))
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as e:
        raise TrustWriteError(f"{path}: cannot write: {e.strerror or e}") from None
    return entry
