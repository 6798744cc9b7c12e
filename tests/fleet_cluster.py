"""A local Ray cluster of simulated device nodes for the fleet tests (other test files import
this).

Each node is started the way a user starts a board, with ``ecoscore node start --device
NAME`` in a process session of its own, and with an environment of its own:
``ECOSCORE_SYSFS_ROOT`` points its workers' /sys and /proc reads at a fake tree (a RAPL
powercap zone whose counter a thread of the test advances at the node's power, and a
device-tree model naming the board), and ``ECOSCORE_FLEET_CACHE`` gives it its own blob
cache. The cluster listens on the loopback address only (127.0.0.2: Ray replaces 127.0.0.1
by the machine's network address) and is kept small: one CPU per node, 80 MB object stores.

``stop()`` kills every process of every node by its process group (each node's session),
and stops the counter threads: nothing is left running.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.fake_sysfs import EnergyCounterWriter, RaplZone, make_powercap, write_device_tree_model

REPO = Path(__file__).resolve().parents[1]
#: Loopback address of the test cluster. Ray turns "127.0.0.1" into the machine's network
#: address; another address of the loopback range stays on the loopback interface.
RAY_IP = "127.0.0.2"
OBJECT_STORE_MB = 80
#: Ray's token authentication, with one token for every test cluster of this process, given
#: through the environment (so that nothing is written to ~/.ray).
RAY_AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
RANGE_UJ = 262_143_328_850


def ray_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind((RAY_IP, 0))
        return int(s.getsockname()[1])


def ecoscore_exe() -> str:
    return str(Path(sys.executable).with_name("ecoscore"))


@dataclass
class SimNode:
    device: str
    board: str
    power_w: float
    root: Path
    cache: Path
    pgid: int
    writer: EnergyCounterWriter
    output: str


@dataclass
class LocalCluster:
    base: Path
    port: int = field(default_factory=free_port)
    nodes: list[SimNode] = field(default_factory=list)
    #: Ray's session folder: short, because Ray's socket paths must fit in 107 bytes.
    ray_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="eco-ray-")))

    @property
    def address(self) -> str:
        return f"{RAY_IP}:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env.update(RAY_USAGE_STATS_ENABLED="0", OMP_NUM_THREADS="1", **RAY_AUTH)
        return env

    def add_node(self, device: str, board: str, power_w: float) -> SimNode:
        """Start a node (the head if it is the first) of device class ``device``."""
        n = len(self.nodes)
        root = self.base / f"node{n}-sysfs"
        (zone,) = make_powercap(root, [RaplZone("intel-rapl:0", "package-0")]).values()
        write_device_tree_model(root, board)
        writer = EnergyCounterWriter(zone, power_w, RANGE_UJ, period_s=0.01).start()
        cache = self.base / f"node{n}-cache"
        args = [ecoscore_exe(), "node", "start", "--device", device]
        if not self.nodes:
            args += ["--head", f"--port={self.port}", f"--temp-dir={self.ray_dir}"]
        else:
            args += [f"--address={self.address}"]
        args += [
            f"--node-ip-address={RAY_IP}",
            "--num-cpus=1",
            f"--object-store-mb={OBJECT_STORE_MB}",
            f"--cache={cache}",
        ]
        env = {**self.env(), "ECOSCORE_SYSFS_ROOT": str(root)}
        proc = subprocess.Popen(
            args,
            env=env,
            cwd=self.base,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self._kill_group(proc.pid)
            writer.stop()
            raise
        node = SimNode(device, board, power_w, root, cache, proc.pid, writer, out)
        self.nodes.append(node)
        if proc.returncode != 0:
            raise RuntimeError(f"ecoscore node start failed ({proc.returncode}):\n{out[-3000:]}")
        return node

    @staticmethod
    def _kill_group(pgid: int) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and _group_alive(pgid):
                time.sleep(0.1)
            if not _group_alive(pgid):
                return

    def stop_node(self, node: SimNode) -> None:
        self._kill_group(node.pgid)
        node.writer.stop()

    def stop(self) -> None:
        for node in reversed(self.nodes):
            self.stop_node(node)
        shutil.rmtree(self.ray_dir, ignore_errors=True)

    def leftover(self) -> list[int]:
        """pids still alive in the nodes' process groups (none after ``stop``)."""
        return [pid for node in self.nodes for pid in _group_members(node.pgid)]


def _group_members(pgid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields after the name: state, ppid, pgrp, ...; a zombie is already dead
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(d.name))
    return out


def _group_alive(pgid: int) -> bool:
    return bool(_group_members(pgid))


class TimeLimit(Exception):
    """A fleet test ran past its time limit."""


@contextlib.contextmanager
def time_limit(seconds: int):  # noqa: ANN201 - a context manager
    """Raise TimeLimit in the main thread after ``seconds`` (every Ray test is bounded)."""

    def expired(signum: int, frame: object) -> None:
        raise TimeLimit(f"past the test's limit of {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
