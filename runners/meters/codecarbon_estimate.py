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
from typing import ClassVar, Literal

from ecoscore.runners.host import CpuTimes, cpu_times, sysfs_path
from ecoscore.runners.meters.base import (
    Measurement,
    Meter,
    MeterConfig,
    MeterError,
    MeterInfo,
    WindowReading,
)

#: CodeCarbon's load model: a floor of 10 % of TDP plus a cubic term in utilisation.
IDLE_FRACTION = 0.1
#: CodeCarbon's fallback when the CPU model is not in its table (W per logical CPU).
DEFAULT_W_PER_THREAD = 4.0
#: Stated relative uncertainty (1 sigma) of a TDP-based estimate.
UNCERTAINTY_REL = 0.5


def _read_cpu_times() -> CpuTimes:
    times = cpu_times()
    if times is None:
        raise MeterError(f"cannot read {sysfs_path('/proc/stat')}: the estimate needs the CPU load")
    return times


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


class EstimateConfig(MeterConfig):
    """CodeCarbon offline CPU model (TDP x load), ESTIMATED, not a sensor"""

    covers: ClassVar[str] = "the CPU package"
    boundaries: ClassVar[tuple[str, ...] | None] = ("cpu-package",)
    estimates: ClassVar[bool] = True

    meter: Literal["estimate"] = "estimate"

    def build(self) -> CodeCarbonCpuEstimate:
        return CodeCarbonCpuEstimate()


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
        self._stat0: CpuTimes | None = None
        self._cpu0 = 0.0

    @property
    def config(self) -> EstimateConfig:
        return EstimateConfig()

    def _begin(self) -> None:
        self._stat0 = _read_cpu_times()
        self._cpu0 = time.process_time()

    def _end(self, duration_s: float) -> WindowReading:
        assert self._stat0 is not None
        now = _read_cpu_times()
        d_total = now.total_s - self._stat0.total_s
        d_busy = now.busy_s - self._stat0.busy_s
        if d_total <= 0:
            # window shorter than a jiffy: use this process's own CPU time instead
            cpu_s = time.process_time() - self._cpu0
            load = min(cpu_s / duration_s / (os.cpu_count() or 1), 1.0) if duration_s > 0 else 0.0
        else:
            load = min(max(d_busy / d_total, 0.0), 1.0)
        power = self.tdp_w * (IDLE_FRACTION + (1 - IDLE_FRACTION) * load**3)
        return WindowReading(
            energy_j=power * duration_s,
            duration_s=duration_s,
            sensor_updates=None,
            details={"cpu_load": round(load, 4), "estimated_power_w": round(power, 4)},
        )
