"""``ecoscore keys`` (create an ed25519 key pair) and ``ecoscore sign`` (sign a record)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecoscore.commands.common import add_command, say


def keys(
    out: Annotated[
        Path,
        typer.Option(help="Path prefix: writes PREFIX.key (private, 0600) and PREFIX.pub."),
    ] = Path("ecoscore-signing"),
    name: Annotated[
        str, typer.Option(help="Name to show in the trusted-keys entry printed.")
    ] = "my lab",
) -> None:
    """Create an ed25519 key pair for signing records."""
    from ecoscore.errors import OutputError
    from ecoscore.jury.signing import generate_key_pair
    from ecoscore.jury.trust import trusted_keys_toml

    try:
        key_path, pub_path, public_b64 = generate_key_pair(out)
    except OSError as e:
        raise OutputError(f"{out}: cannot write the key pair: {e.strerror or e}") from None
    say(f"private key: {key_path} (mode 0600; keep it secret)")
    say(f"public key:  {pub_path}")
    say("the [[keys]] entry for whoever must trust your records (paste it into their")
    say(f"keys.toml or policy file, or run: ecoscore trust add NAME {pub_path} --to keys.toml):")
    entry = trusted_keys_toml(name, public_b64)  # TOML escapes: the lines stay valid TOML
    for line in entry.splitlines():
        say(line)


def sign(
    records: Annotated[
        list[Path], typer.Argument(help="Run records to sign (each rewritten atomically).")
    ],
    key: Annotated[Path, typer.Option("--key", help="Private key file from `ecoscore keys`.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Write the signed record here instead of in place (one record)."),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Sign records: each signature covers a record_id (the hash of the record's content).
    Every record is read and checked before any is rewritten."""
    from ecoscore.errors import UsageError
    from ecoscore.files import check_output_path, write_atomic
    from ecoscore.jury.signing import load_private_key, record_bytes, sign_record
    from ecoscore.record import RecordWriteError, load_record

    if out is not None and len(records) != 1:
        raise UsageError("--out writes one signed record; give one record with it")
    for record in records:
        check_output_path(out or record, "signed record")
    private = load_private_key(key)
    signed = [sign_record(load_record(r), private) for r in records]
    for record, rec in zip(records, signed, strict=True):
        target = out or record
        try:
            write_atomic(target, record_bytes(rec))
        except OSError as e:
            raise RecordWriteError(
                f"{target}: cannot write the signed record: {e.strerror or e}"
            ) from None
        assert rec.signature is not None
        say(f"signed {target}: record {rec.record_id[:12]} with key {rec.signature.key_id}")


def register(app: typer.Typer) -> None:
    add_command(app, "keys", keys)
    add_command(app, "sign", sign)
