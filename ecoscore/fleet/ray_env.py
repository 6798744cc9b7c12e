"""Importing Ray, joining a cluster or starting an embedded one, and what the cluster holds.

Rules enforced here:
- Ray is optional (the ``fleet`` extra): when it is missing, ``FleetNotInstalled`` says in
  one line how to install it (exit code 2);
- with an address (``--address`` or ``RAY_ADDRESS``) the driver joins that cluster; without
  one it starts an embedded Ray on this machine, which listens on the loopback address
  only and advertises this machine as one node of the device class given;
- Ray's usage statistics are off: nothing is sent anywhere but to the cluster's nodes;
- a device class is the custom resource ``device:<name>``; a node advertises 1 of it, and
  every entry asks for 1, so that an entry has its node's device to itself.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ecoscore.fleet.errors import ClusterError, FleetNotInstalled

INSTALL_HINT = (
    "fleet campaigns run on Ray, which is not installed: pip install 'ecoscore[fleet]' "
    "(on every node and on the driver)"
)
RESOURCE_PREFIX = "device:"
#: Environment of a node's workers, set by ``ecoscore node start``.
DEVICE_ENV = "ECOSCORE_FLEET_DEVICE"
CACHE_ENV = "ECOSCORE_FLEET_CACHE"


def import_ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise FleetNotInstalled(INSTALL_HINT) from None
    return ray


def ray_available() -> bool:
    """Whether Ray is installed (without importing it: an embedded Ray must be configured
    before its first import)."""
    import importlib.util

    if "ray" in sys.modules:
        return sys.modules["ray"] is not None
    return importlib.util.find_spec("ray") is not None


def require_ray() -> None:
    if not ray_available():
        raise FleetNotInstalled(INSTALL_HINT)


def device_resource(name: str) -> str:
    return RESOURCE_PREFIX + name


@dataclass(frozen=True)
class NodeView:
    node_id: str
    address: str
    hostname: str
    device_classes: tuple[str, ...]


@dataclass
class ClusterOptions:
    address: str | None = None  # None: RAY_ADDRESS, else an embedded Ray
    node_ip_address: str | None = None  # this machine's address in the cluster
    local_device: str | None = None  # embedded: the device class of this machine
    num_cpus: int = 1  # embedded
    object_store_bytes: int | None = None  # embedded
    extra_env: dict[str, str] = field(default_factory=dict)  # embedded: the workers' env


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Cluster:
    """The driver's connection to Ray (joined or embedded)."""

    def __init__(self, ray: Any, mode: str, address: str) -> None:
        self.ray = ray
        self.mode = mode  # "joined" | "embedded"
        self.address = address

    def nodes(self) -> list[NodeView]:
        """Alive nodes, with the device classes each advertises."""
        out = []
        for n in self.ray.nodes():
            if not n.get("Alive"):
                continue
            classes = tuple(
                sorted(
                    k[len(RESOURCE_PREFIX) :]
                    for k, v in (n.get("Resources") or {}).items()
                    if k.startswith(RESOURCE_PREFIX) and v >= 1
                )
            )
            out.append(
                NodeView(
                    node_id=n["NodeID"],
                    address=str(n.get("NodeManagerAddress", "")),
                    hostname=str(n.get("NodeManagerHostname", "")),
                    device_classes=classes,
                )
            )
        return out

    def nodes_of(self, device_class: str) -> list[NodeView]:
        return [n for n in self.nodes() if device_class in n.device_classes]

    def close(self) -> None:
        self.ray.shutdown()


def connect(opts: ClusterOptions) -> Cluster:
    """Join the cluster at ``opts.address`` (or ``RAY_ADDRESS``), or start an embedded Ray."""
    address = opts.address or os.environ.get("RAY_ADDRESS") or None
    if address is None:
        return _embedded(opts)
    ray = import_ray()
    try:
        ray.init(
            address=address,
            _node_ip_address=opts.node_ip_address,
            logging_level="ERROR",
            log_to_driver=False,
            namespace="ecoscore",
        )
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ClusterError(f"cannot join the Ray cluster at {address}: {e}") from None
    return Cluster(ray, "joined", address)


def _embedded(opts: ClusterOptions) -> Cluster:
    if not opts.local_device:
        raise ClusterError(
            "no Ray cluster given (--address or RAY_ADDRESS) and no device class for this "
            "machine: give --local-device NAME to run here"
        )
    if "ray" not in sys.modules:
        # a one-machine cluster: every Ray process listens on the loopback address only
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = import_ray()
    env = {DEVICE_ENV: opts.local_device, **opts.extra_env}
    try:
        with _env(env):
            ray.init(
                address="local",  # a new Ray of its own, never another one found here
                num_cpus=opts.num_cpus,
                num_gpus=0,
                resources={device_resource(opts.local_device): 1},
                object_store_memory=opts.object_store_bytes,
                include_dashboard=False,
                logging_level="ERROR",
                log_to_driver=False,
                namespace="ecoscore",
            )
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ClusterError(f"cannot start an embedded Ray on this machine: {e}") from None
    return Cluster(ray, "embedded", "embedded")
