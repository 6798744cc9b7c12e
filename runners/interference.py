"""Detect other work on the machine during a measured window: it inflates measured energy.

CPU: the machine's busy time (/proc/stat, through ``host.cpu_times``) minus this process's
own CPU time, as a share of all cores over the window. GPU: compute processes other than
this one on the measured GPU (NVML), where NVML is available. Windows over the threshold are
flagged in the record.

The probe reads three figures at each window edge: the machine's busy seconds, this
process's CPU seconds and the clock. Each comes from a function the probe is given, so that
a test can inject them instead of racing a real load.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ecoscore.runners.host import cpu_times

#: A window where other processes used more than this share of all cores is flagged.
OTHER_CPU_SHARE_THRESHOLD = 0.10


def machine_busy_s() -> float | None:
    times = cpu_times()
    return times.busy_s if times is not None else None


@dataclass
class _Mark:
    wall: float
    busy_s: float | None
    own_s: float


class InterferenceProbe:
    """Call ``begin()`` and ``end()`` around a window; ``end`` returns what it saw."""

    def __init__(
        self,
        gpu_index: int | None = None,
        *,
        cpus: int | None = None,
        busy_s: Callable[[], float | None] = machine_busy_s,
        own_s: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.cpus = cpus or os.cpu_count() or 1
        self.gpu_index = gpu_index
        self._busy_s, self._own_s, self._clock = busy_s, own_s, clock
        self._mark: _Mark | None = None

    def begin(self) -> None:
        self._mark = _Mark(self._clock(), self._busy_s(), self._own_s())

    def end(self) -> dict[str, Any]:
        assert self._mark is not None, "begin() first"
        m = self._mark
        wall = self._clock() - m.wall
        busy = self._busy_s()
        own = self._own_s() - m.own_s
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
        share = out["other_cpu_share"]
        if share is not None and share > OTHER_CPU_SHARE_THRESHOLD:
            flagged.append(f"other processes used {share:.0%} of the CPUs")
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
