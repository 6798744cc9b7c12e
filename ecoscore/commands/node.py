"""``ecoscore node start``: check this board's meter and join (or start) a campaign's Ray
cluster as a node of one device class."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from ecoscore.commands.common import add_command, warn

node_app = typer.Typer(
    name="node", help="Make this machine a node of a campaign's Ray cluster.", no_args_is_help=True
)


def start(
    device: Annotated[
        str, typer.Option(help="Device class of this node, as named in campaign files.")
    ],
    head: Annotated[
        bool, typer.Option(help="Start a new cluster with this node as its head.")
    ] = False,
    address: Annotated[
        str | None, typer.Option(help="Join the cluster whose head is at HOST:PORT.")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="--head: the cluster's port (Ray: 6379).")
    ] = None,
    node_ip_address: Annotated[
        str | None, typer.Option(help="This node's address as the other nodes reach it.")
    ] = None,
    num_cpus: Annotated[int, typer.Option(min=0, help="CPUs Ray may schedule here.")] = 1,
    object_store_mb: Annotated[
        int | None, typer.Option(min=80, help="Ray object store size, MB (default: Ray's).")
    ] = None,
    meter: Annotated[str, typer.Option(help="Meter to check (as in the campaign file).")] = "auto",
    engine_device: Annotated[str, typer.Option(help="cpu, or cuda / cuda:N.")] = "cpu",
    cache: Annotated[
        Path | None,
        typer.Option(help="Where received models and data are kept (~/.cache/ecoscore/fleet)."),
    ] = None,
    temp_dir: Annotated[
        Path | None, typer.Option(help="--head: Ray's session folder (default /tmp/ray).")
    ] = None,
    block: Annotated[
        bool, typer.Option(help="Stay in the foreground (ray start --block).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option(help="Check the meter, print the command, start nothing.")
    ] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Check the meter, then `ray start` advertising the resource device:NAME (1 per node)."""
    from ecoscore.fleet.errors import NodeStartError
    from ecoscore.fleet.node_start import (
        NodeStartOptions,
        check_device_name,
        check_meter,
        node_environment,
        ray_executable,
        ray_start_command,
    )

    opts = NodeStartOptions(
        device=check_device_name(device),
        head=head,
        address=address,
        port=port,
        node_ip_address=node_ip_address,
        num_cpus=num_cpus,
        object_store_bytes=object_store_mb * 1_000_000 if object_store_mb else None,
        cache=cache,
        temp_dir=temp_dir,
        block=block,
    )
    ray = ray_executable() if not dry_run else "ray"
    cmd = ray_start_command(opts, ray)
    check = check_meter(meter, engine_device)
    print(f"device class {opts.device}: {check.line()}")
    if check.measurement == "ESTIMATED":
        warn(
            "this node's energy figures will be ESTIMATED, not measured: "
            f"{check.fallback_reason or check.source}"
        )
    env = node_environment(opts)
    shown = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    print(f"starting: {shown} {shlex.join(cmd)}", file=sys.stderr)
    if dry_run:
        return
    rc = subprocess.run(cmd, env={**os.environ, **env}).returncode
    if rc != 0:
        raise NodeStartError(f"ray start failed (exit {rc}); its output is above")
    print(
        f"node of device class {opts.device} started: entries asking for "
        f"device:{opts.device} run here"
    )


def register(app: typer.Typer) -> None:
    add_command(node_app, "start", start)
    app.add_typer(node_app, name="node")
