"""What the run ran on: CPU, memory, OS; the board model where there is a device tree.

Every /proc and /sys path goes through ``sysfs_path`` (ECOSCORE_SYSFS_ROOT)."""

from __future__ import annotations

import os
import platform

from ecoscore.runners.meters.base import sysfs_path

from ecoscore.record import DeviceRef


def cpu_model() -> str:
    try:
        for line in sysfs_path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_bytes() -> int | None:
    try:
        for line in sysfs_path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def board_model() -> str | None:
    """The board model from the device tree (Jetson, Raspberry Pi), if any."""
    try:
        return sysfs_path("/proc/device-tree/model").read_bytes().rstrip(b"\0").decode().strip()
    except (OSError, UnicodeDecodeError):
        return None


def describe_device(device: str = "cpu", extra: dict[str, object] | None = None) -> DeviceRef:
    """Describe the machine. ``extra`` (from a GPU probe or meter) lands in ``details``."""
    cpu = cpu_model()
    board = board_model()
    details: dict[str, object] = dict(extra or {})
    if board:
        details["board_model"] = board
    kind = "gpu" if device.startswith("cuda") else ("board" if board else "cpu")
    name = str(details.get("gpu_name", board or cpu)) if kind != "cpu" else cpu
    return DeviceRef(
        kind=kind,
        name=name,
        cpu_model=cpu,
        cpu_count_logical=os.cpu_count() or 1,
        memory_bytes=memory_bytes(),
        os=f"{platform.system()} {platform.release()}",
        machine=platform.machine(),
        details=details,
    )
