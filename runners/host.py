"""The host, read once: CPU model, memory, board model (device tree), CPU busy time
(/proc/stat) and NVIDIA GPU identity (NVML). Every /proc and /sys read of ecoscore goes
through ``sysfs_path``, so that ``ECOSCORE_SYSFS_ROOT`` can point all of them at another
tree (tests, containers that mount the host's /sys elsewhere).

What cannot change while ecoscore runs (CPU model, memory, board, GPU identity) is read once
per root and cached; CPU times are read on each call, by ``cpu_times`` only.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecoscore.record import DeviceRef

#: The variable that redirects every /sys and /proc read (recorded when set: a redirected
#: run never measured this machine's sensors).
SYSFS_ROOT_VARIABLE = "ECOSCORE_SYSFS_ROOT"


def sysfs_root() -> str | None:
    return os.environ.get(SYSFS_ROOT_VARIABLE) or None


def sysfs_path(path: str | os.PathLike[str]) -> Path:
    """Map an absolute /sys or /proc path under ``ECOSCORE_SYSFS_ROOT`` when it is set."""
    p = Path(path)
    root = sysfs_root()
    if root and p.is_absolute():
        return Path(root) / p.relative_to("/")
    return p


def cpu_model() -> str:
    return _cpu_model(sysfs_root())


@functools.cache
def _cpu_model(root: str | None) -> str:
    try:
        for line in sysfs_path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_bytes() -> int | None:
    return _memory_bytes(sysfs_root())


@functools.cache
def _memory_bytes(root: str | None) -> int | None:
    try:
        for line in sysfs_path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_available_bytes() -> int | None:
    """MemAvailable of /proc/meminfo now (None when it cannot be read); not cached."""
    try:
        for line in sysfs_path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def board_model() -> str | None:
    """The board model from the device tree (Jetson, Raspberry Pi), if any."""
    return _board_model(sysfs_root())


@functools.cache
def _board_model(root: str | None) -> str | None:
    try:
        raw = sysfs_path("/proc/device-tree/model").read_bytes()
    except OSError:
        return None
    try:
        return raw.rstrip(b"\x00\n").decode().strip() or None
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class CpuTimes:
    """Machine-wide CPU time from the first line of /proc/stat, in seconds."""

    busy_s: float
    total_s: float


def cpu_times() -> CpuTimes | None:
    """Busy and total CPU seconds of all cores since boot (None when /proc/stat is
    unreadable). Busy is user + nice + system + irq + softirq + steal; idle and iowait are
    not busy."""
    try:
        line = sysfs_path("/proc/stat").read_text().split("\n", 1)[0]
        fields = [int(v) for v in line.split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 4:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return CpuTimes(busy_s=(total - idle) / tick, total_s=total / tick)


def nvidia_gpu(index: int = 0) -> dict[str, Any]:
    """Identity and settings of NVIDIA GPU ``index`` through NVML: name, UUID, driver and
    CUDA versions, power limit, clocks, persistence mode. What cannot be read says why;
    nothing is changed."""
    return dict(_nvidia_gpu(index))


@functools.cache
def _nvidia_gpu(index: int) -> tuple[tuple[str, Any], ...]:
    try:
        import pynvml as nv
    except ImportError:
        return (("gpu_probe", "nvidia-ml-py not installed (pip install nvidia-ml-py)"),)
    try:
        nv.nvmlInit()
    except Exception as e:  # NVMLError
        return (("gpu_probe", f"NVML unavailable: {e}"),)
    try:
        h = nv.nvmlDeviceGetHandleByIndex(index)
        out: dict[str, Any] = {"gpu_index": index}
        reads = {
            "gpu_name": lambda: _s(nv.nvmlDeviceGetName(h)),
            "gpu_uuid": lambda: _s(nv.nvmlDeviceGetUUID(h)),
            "driver_version": lambda: _s(nv.nvmlSystemGetDriverVersion()),
            "cuda_driver_version": lambda: _cuda(nv.nvmlSystemGetCudaDriverVersion_v2()),
            "power_limit_w": lambda: nv.nvmlDeviceGetEnforcedPowerLimit(h) / 1000,
            "power_limit_default_w": lambda: nv.nvmlDeviceGetPowerManagementDefaultLimit(h) / 1000,
            "persistence_mode": lambda: bool(nv.nvmlDeviceGetPersistenceMode(h)),
            "sm_clock_max_mhz": lambda: nv.nvmlDeviceGetMaxClockInfo(h, nv.NVML_CLOCK_SM),
            "mem_clock_max_mhz": lambda: nv.nvmlDeviceGetMaxClockInfo(h, nv.NVML_CLOCK_MEM),
            "memory_total_bytes": lambda: int(nv.nvmlDeviceGetMemoryInfo(h).total),
            "compute_mode": lambda: int(nv.nvmlDeviceGetComputeMode(h)),
        }
        for key, fn in reads.items():
            try:
                out[key] = fn()
            except Exception as e:  # a field this GPU or driver does not support
                out[key] = f"unavailable ({type(e).__name__})"
        return tuple(out.items())
    except Exception as e:  # no GPU with that index
        return (("gpu_probe", f"NVML cannot open GPU {index}: {e}"),)
    finally:
        nv.nvmlShutdown()


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _cuda(v: int) -> str:
    return f"{v // 1000}.{(v % 1000) // 10}"


def describe_device(device: str = "cpu") -> DeviceRef:
    """What the run ran on: the GPU for a CUDA device, the board where there is a device
    tree, else the CPU. The GPU's identity comes from NVML, whatever meter is used."""
    cpu = cpu_model()
    board = board_model()
    details: dict[str, Any] = {}
    if device.startswith("cuda"):
        details.update(nvidia_gpu(int(device.partition(":")[2] or 0)))
    if board:
        details["board_model"] = board
    kind = "gpu" if device.startswith("cuda") else ("board" if board else "cpu")
    if kind == "gpu":
        name = str(details.get("gpu_name") or "unknown NVIDIA GPU")
    else:
        name = board if kind == "board" and board else cpu
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
