"""An ESTIMATING CPU meter built on CodeCarbon's offline CPU power model.

Used when no energy sensor can be read. It never touches the network: it uses only
CodeCarbon's bundled CPU table (``data/hardware/cpu_power.csv``) through its ``TDP``
class, never the online ``EmissionsTracker``.

The model is CodeCarbon's "cpu load" mode: power = TDP x (0.1 + 0.9 x load^3), where load
is the machine's CPU utilisation over the window, read from /proc/stat. If the CPU is not
in the table, CodeCarbon's own fallback is kept and recorded: 4 W per logical CPU.

The result is ESTIMATED and is labelled so everywhere. Its stated uncertainty is large
(50 %, 1 sigma): a TDP is a thermal design figure, not a power reading.
"""

from __future__ import annotations

import logging
import os
import time

from ecoscore.runners.meters.base import (
    Measurement,
    Meter,
    MeterError,
    MeterInfo,
    WindowReading,
    sysfs_path,
)

#: CodeCarbon's load model: a floor of 10 % of TDP plus a cubic term in utilisation.
IDLE_FRACTION = 0.1
#: CodeCarbon's fallback when the CPU model is not in its table (W per logical CPU).
DEFAULT_W_PER_THREAD = 4.0
#: Stated relative uncertainty (1 sigma) of a TDP-based estimate.
UNCERTAINTY_REL = 0.5


def read_proc_stat() -> tuple[int, int]:
    """(busy, total) jiffies summed over all CPUs, from /proc/stat."""
    path = sysfs_path("/proc/stat")
    try:
        line = path.read_text().splitlines()[0]
    except OSError as e:
        raise MeterError(f"cannot read {path}: {e}") from e
    fields = [int(v) for v in line.split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return total - idle, total


def cpu_tdp() -> tuple[str, float, str]:
    """(cpu model, TDP in W, how it was found) from CodeCarbon's offline CPU table."""
    from codecarbon.core.cpu import TDP
    from codecarbon.core.util import count_cpus

    cc_logger = logging.getLogger("codecarbon")
    level = cc_logger.level
    cc_logger.setLevel(logging.ERROR)
    try:
        tdp = TDP()
        model, power = tdp.model, tdp.tdp
        n = count_cpus()
    finally:
        cc_logger.setLevel(level)
    if power is None:
        n = os.cpu_count() or 1
        return (
            model or "unknown",
            DEFAULT_W_PER_THREAD * n,
            f"default {DEFAULT_W_PER_THREAD} W x {n} CPUs",
        )
    known = tdp._get_cpu_power_from_registry(model) if model else None
    if known:
        return model, float(power), "CodeCarbon cpu_power.csv"
    return (
        model,
        float(power),
        f"default {DEFAULT_W_PER_THREAD:g} W x {n} CPUs (model not in table)",
    )


class CodeCarbonCpuEstimate(Meter):
    """CPU energy ESTIMATED from TDP and utilisation (CodeCarbon's offline model)."""

    def __init__(self) -> None:
        super().__init__()
        model, tdp_w, how = cpu_tdp()
        self.cpu_model = model
        self.tdp_w = tdp_w
        self.info = MeterInfo(
            name="codecarbon-estimate",
            source=f"CodeCarbon offline CPU power model (TDP {tdp_w:g} W: {how})",
            boundary="cpu-package",
            measurement=Measurement.ESTIMATED,
            sampling_period_s=None,
            uncertainty_rel=UNCERTAINTY_REL,
            details={
                "cpu_model": model,
                "tdp_w": tdp_w,
                "tdp_source": how,
                "power_model": "TDP x (0.1 + 0.9 x load^3), load from /proc/stat",
            },
        )
        self._stat0: tuple[int, int] | None = None
        self._cpu0 = 0.0

    def _begin(self) -> None:
        self._stat0 = read_proc_stat()
        self._cpu0 = time.process_time()

    def _end(self, duration_s: float) -> WindowReading:
        assert self._stat0 is not None
        busy1, total1 = read_proc_stat()
        busy0, total0 = self._stat0
        d_total = total1 - total0
        if d_total <= 0:
            # window shorter than a jiffy: use this process's own CPU time instead
            cpu_s = time.process_time() - self._cpu0
            load = min(cpu_s / duration_s / (os.cpu_count() or 1), 1.0) if duration_s > 0 else 0.0
        else:
            load = min(max((busy1 - busy0) / d_total, 0.0), 1.0)
        power = self.tdp_w * (IDLE_FRACTION + (1 - IDLE_FRACTION) * load**3)
        return WindowReading(
            energy_j=power * duration_s,
            duration_s=duration_s,
            sensor_updates=None,
            details={"cpu_load": round(load, 4), "estimated_power_w": round(power, 4)},
        )
