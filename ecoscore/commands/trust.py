"""``ecoscore trust add NAME PUBFILE --to keys.toml``: trust a signing key (append its
``[[keys]]`` entry to a trusted-keys or policy file, atomically; a name or a key that is
already there is refused)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecoscore.commands.common import add_command

trust_app = typer.Typer(
    name="trust", help="Trusted signing keys (a jury's keys.toml).", no_args_is_help=True
)


def add(
    name: Annotated[str, typer.Argument(help="The name reports show for this key's signer.")],
    pubfile: Annotated[Path, typer.Argument(help="The public key file (PREFIX.pub).")],
    to: Annotated[
        Path, typer.Option("--to", help="Trusted-keys (or policy) file; created if absent.")
    ],
) -> None:
    """Add a public key to a trusted-keys file under a name."""
    from ecoscore.jury.trust import add_trusted_key, read_public_key_file

    entry = add_trusted_key(to, name, read_public_key_file(pubfile))
    print(f"added to {to}:")
    print(entry, end="")


def register(app: typer.Typer) -> None:
    add_command(trust_app, "add", add)
    app.add_typer(trust_app)
