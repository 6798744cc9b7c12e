"""``ecoscore policy init``: write a commented example jury policy with every key
(docs/policy.md documents them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecoscore.commands.common import add_command

policy_app = typer.Typer(
    name="policy", help="Jury policies: what a submission must show to pass.", no_args_is_help=True
)


def init(
    out: Annotated[Path, typer.Option(help="Where to write the policy file.")] = Path(
        "policy.toml"
    ),
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Write a commented example policy, every key explained (edit it, then use it with
    `ecoscore compare --policy`)."""
    from ecoscore.files import write_atomic
    from ecoscore.jury.policy import EXAMPLE_POLICY, PolicyError, PolicyWriteError

    if out.exists() and not force:
        raise PolicyError(f"{out}: already exists; refusing to overwrite it (use --force)")
    try:
        write_atomic(out, EXAMPLE_POLICY.encode("utf-8"))
    except OSError as e:
        raise PolicyWriteError(f"{out}: cannot write the policy: {e.strerror or e}") from None
    print(f"wrote {out}: an example policy; every key is explained in it and in docs/policy.md")
    print(f"use it with: ecoscore compare SUBMISSIONS... --policy {out}")


def register(app: typer.Typer) -> None:
    add_command(policy_app, "init", init)
    app.add_typer(policy_app)
