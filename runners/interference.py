"""Detect other work on the machine during a measured window: it inflates measured energy.

CPU: the machine's busy time from /proc/stat minus this process's own CPU time, as a share
of all cores over the window. GPU: compute processes other than this one on the measured
GPU (NVML), where NVML is available. Windows over the threshold are flagged in the record.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from ecoscore.runners.meters.base import sysfs_path

#: A window where other processes used more than this share of all cores is flagged.
OTHER_CPU_SHARE_THRESHOLD = 0.10


def _proc_stat_busy_s() -> float | None:
    try:
        fields = [
            int(v) for v in sysfs_path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        ]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class _Mark:
    wall: float
    busy_s: float | None
    own_s: float


class InterferenceProbe:
    """Call ``begin()`` and ``end()`` around a window; ``end`` returns what it saw."""

    def __init__(self, gpu_index: int | None = None) -> None:
        self.cpus = os.cpu_count() or 1
        self.gpu_index = gpu_index
        self._mark: _Mark | None = None

    def begin(self) -> None:
        self._mark = _Mark(time.perf_counter(), _proc_stat_busy_s(), time.process_time())

    def end(self) -> dict[str, Any]:
        assert self._mark is not None, "begin() first"
        m = self._mark
        wall = time.perf_counter() - m.wall
        busy = _proc_stat_busy_s()
        own = time.process_time() - m.own_s
        out: dict[str, Any] = {}
        if busy is not None and m.busy_s is not None and wall > 0:
            other = max(busy - m.busy_s - own, 0.0) / (wall * self.cpus)
            out["other_cpu_share"] = round(other, 4)
            out["own_cpu_share"] = round(own / (wall * self.cpus), 4)
        else:
            out["other_cpu_share"] = None
        others = other_gpu_processes(self.gpu_index) if self.gpu_index is not None else None
        if others is not None:
            out["other_gpu_processes"] = others
        flagged = []
        if (
            out["other_cpu_share"] is not None
            and out["other_cpu_share"] > OTHER_CPU_SHARE_THRESHOLD
        ):
            flagged.append(f"other processes used {out['other_cpu_share']:.0%} of the CPUs")
        if others:
            flagged.append(f"{len(others)} other process(es) on GPU {self.gpu_index}")
        out["interference"] = "; ".join(flagged) if flagged else None
        return out


def other_gpu_processes(index: int) -> list[int] | None:
    """PIDs of compute processes on GPU ``index`` other than this one (None: no NVML)."""
    try:
        import pynvml as nv

        nv.nvmlInit()
    except Exception:  # no nvidia-ml-py, or no driver: nothing to say
        return None
    try:
        h = nv.nvmlDeviceGetHandleByIndex(index)
        procs = nv.nvmlDeviceGetComputeRunningProcesses(h)
        return sorted(p.pid for p in procs if p.pid != os.getpid())
    except Exception:  # the driver cannot list processes here (e.g. inside a VM)
        return None
    finally:
        nv.nvmlShutdown()
