"""``ecoscore node start``: make a board a node of a campaign's Ray cluster.

It checks the node's meter first (``--meter auto`` picks what ``ecoscore run`` would), then
runs ``ray start`` with the custom resource ``device:<NAME>`` set to 1, so that an entry
asking for its device class has the device to itself, and with the environment that the
node's workers read: the device class (``ECOSCORE_FLEET_DEVICE``) and the blob cache
(``ECOSCORE_FLEET_CACHE``).

Rules enforced here:
- the device class name is the campaign file's (lower-case letters, digits, ``._-``);
- a node does not give Ray its CPUs for other work (``--num-cpus`` defaults to 1: the
  entry's own task asks for none, and the engine's threads are the entry's settings);
- Ray's usage statistics are off and, on a head node, its dashboard is not started;
- what the meter measures is said before the node joins: an ESTIMATE is named as such.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ecoscore.fleet.campaign_file import NAME_PATTERN
from ecoscore.fleet.errors import FleetNotInstalled, NodeStartError
from ecoscore.fleet.ray_env import CACHE_ENV, DEVICE_ENV, INSTALL_HINT, device_resource


@dataclass
class NodeStartOptions:
    device: str
    head: bool = False
    address: str | None = None  # the head's address, for a node that joins
    port: int | None = None  # head: the GCS port (Ray's default 6379)
    node_ip_address: str | None = None
    num_cpus: int = 1
    object_store_bytes: int | None = None
    cache: Path | None = None
    temp_dir: Path | None = None  # head: Ray's session folder (default /tmp/ray)
    block: bool = False


@dataclass(frozen=True)
class MeterCheck:
    name: str
    measurement: str  # MEASURED | ESTIMATED
    boundary: str
    source: str
    fallback_reason: str | None

    def line(self) -> str:
        text = (
            f"meter: {self.name} ({self.measurement}) at boundary {self.boundary}, "
            f"source: {self.source}"
        )
        return text + (f"; {self.fallback_reason}" if self.fallback_reason else "")


def check_device_name(name: str) -> str:
    if not re.match(NAME_PATTERN, name):
        raise NodeStartError(
            f"--device {name!r}: a device class name is lower-case letters, digits, '.', '_' "
            "and '-' (as in the campaign file)"
        )
    return name


def check_meter(spec: str = "auto", engine_device: str = "cpu") -> MeterCheck:
    """Open the meter this node's entries will use, say what it measures, close it."""
    from ecoscore.session import open_meter

    m = open_meter(spec, engine_device)
    try:
        info = m.meter.info
        return MeterCheck(
            info.name, info.measurement.value, info.boundary, info.source, m.fallback_reason
        )
    finally:
        m.meter.close()


def ray_executable() -> str:
    """The ``ray`` command of this environment."""
    beside = Path(sys.executable).with_name("ray")
    if beside.exists():
        return str(beside)
    found = shutil.which("ray")
    if found is None:
        raise FleetNotInstalled(INSTALL_HINT)
    return found


def ray_start_command(opts: NodeStartOptions, ray: str = "ray") -> list[str]:
    """The ``ray start`` command line for ``opts``."""
    if opts.head == bool(opts.address):
        raise NodeStartError(
            "give either --head (start a cluster) or --address HOST:PORT (join one)"
        )
    cmd = [ray, "start"]
    if opts.head:
        cmd += ["--head", "--include-dashboard=false"]
        if opts.port is not None:
            cmd += [f"--port={opts.port}"]
        if opts.temp_dir is not None:
            cmd += [f"--temp-dir={Path(opts.temp_dir).resolve()}"]
    else:
        cmd += [f"--address={opts.address}"]
    if opts.node_ip_address:
        cmd += [f"--node-ip-address={opts.node_ip_address}"]
    cmd += [
        f"--num-cpus={opts.num_cpus}",
        "--num-gpus=0",
        f"--resources={json.dumps({device_resource(opts.device): 1})}",
        "--disable-usage-stats",
    ]
    if opts.object_store_bytes is not None:
        cmd += [f"--object-store-memory={opts.object_store_bytes}"]
    if opts.block:
        cmd += ["--block"]
    return cmd


def node_environment(opts: NodeStartOptions) -> dict[str, str]:
    """What the node's workers read: its device class and its blob cache."""
    env = {DEVICE_ENV: opts.device, "RAY_USAGE_STATS_ENABLED": "0"}
    if opts.cache is not None:
        env[CACHE_ENV] = str(Path(opts.cache).resolve())
    return env
