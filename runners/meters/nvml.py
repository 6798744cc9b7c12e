"""NVIDIA GPU energy MEASURED through NVML (the ``pynvml`` module of nvidia-ml-py).

Primary source: the GPU's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``,
millijoules since the driver loaded; Volta and newer). It is read at the window edges only:
on an H100 it advances about every 100 ms and one read costs milliseconds, so it brackets
windows, never single inferences.

Fallback for older GPUs: power polled in a background thread and integrated. Recent drivers
return a one-second average from ``nvmlDeviceGetPowerUsage``, so the poller reads the
instantaneous field (``nvmlDeviceGetFieldValues`` with ``NVML_FI_DEV_POWER_INSTANT``) where
the driver offers it, and says so when it has to use the averaged call.

On A100/H100 the power sensor only sees part of the runtime (Yang et al., "Part-time Power
Measurements: nvidia-smi's Lack of Attention", 2023): windows must be long and repeated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import threading
import time
from types import ModuleType
from typing import Any, ClassVar, Literal

from pydantic import Field

from ecoscore.runners.meters.base import (
    OBSERVE_POLL_S,
    Measurement,
    Meter,
    MeterConfig,
    MeterError,
    MeterInfo,
    SampledPowerMeter,
    SamplingPeriod,
    WindowReading,
)

#: The energy counter's update period assumed when it cannot be measured (H100: ~100 ms).
NOMINAL_COUNTER_PERIOD_S = 0.1
#: Default polling period of the power fallback.
DEFAULT_POLL_PERIOD_S = 0.02
#: Stated relative uncertainty (1 sigma). NVIDIA documents +/-5 % for the power reading of
#: Fermi and Kepler boards only (nvidia-smi documentation); for later GPUs this figure is an
#: assumption, recorded as such (``uncertainty_source``), until a calibration against an
#: external meter replaces it.
UNCERTAINTY_REL = 0.05
UNCERTAINTY_SOURCE = (
    "5 %: documented by NVIDIA (+/-5 %) for Fermi and Kepler boards only; an assumption for "
    "later GPUs"
)

PART_TIME_NOTE = (
    "on A100/H100 the power sensor samples only part of the runtime (Yang et al. 2023, "
    "'Part-time Power Measurements: nvidia-smi's Lack of Attention'): windows must be long "
    "(many counter updates) and repeated"
)

MODES = ("auto", "counter", "polling")


def load_pynvml() -> ModuleType:
    """Import pynvml lazily; a clear MeterError when nvidia-ml-py is not installed."""
    try:
        import pynvml
    except ImportError as e:
        raise MeterError(
            "NVML meter needs the nvidia-ml-py package (module pynvml): pip install nvidia-ml-py"
        ) from e
    return pynvml


def _text(value: object) -> str:
    """pynvml returns str in recent releases and bytes in older ones."""
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlGpu:
    """An initialised NVML handle on one GPU, with its identity for the record."""

    def __init__(self, index: int = 0, nvml: Any = None) -> None:
        self.nvml = nvml if nvml is not None else load_pynvml()
        self.index = index
        try:
            self.nvml.nvmlInit()
        except self.nvml.NVMLError as e:
            raise MeterError(f"NVML cannot start (no NVIDIA driver?): {e}") from e
        try:
            count = self.nvml.nvmlDeviceGetCount()
            if not 0 <= index < count:
                raise MeterError(f"NVML: no GPU with index {index} (this machine has {count})")
            self.handle = self.nvml.nvmlDeviceGetHandleByIndex(index)
        except self.nvml.NVMLError as e:
            self.nvml.nvmlShutdown()
            raise MeterError(f"NVML: cannot open GPU {index}: {e}") from e
        except MeterError:
            self.nvml.nvmlShutdown()
            raise
        self.details = self._identity()

    def _optional(self, fn: str, *args: object) -> object | None:
        try:
            return getattr(self.nvml, fn)(*args)
        except (self.nvml.NVMLError, AttributeError):
            return None

    def _identity(self) -> dict[str, object]:
        h = self.handle
        name = self._optional("nvmlDeviceGetName", h)
        uuid = self._optional("nvmlDeviceGetUUID", h)
        driver = self._optional("nvmlSystemGetDriverVersion")
        nvml_version = self._optional("nvmlSystemGetNVMLVersion")
        limit_mw = self._optional("nvmlDeviceGetEnforcedPowerLimit", h)
        cc = self._optional("nvmlDeviceGetCudaComputeCapability", h)
        return {
            "gpu_index": self.index,
            "gpu_name": _text(name) if name is not None else None,
            "gpu_uuid": _text(uuid) if uuid is not None else None,
            "driver_version": _text(driver) if driver is not None else None,
            "nvml_version": _text(nvml_version) if nvml_version is not None else None,
            "power_limit_w": float(limit_mw) / 1000 if isinstance(limit_mw, int | float) else None,
            "compute_capability": ".".join(str(v) for v in cc) if cc else None,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "part_time_sensor": PART_TIME_NOTE,
        }

    def energy_mj(self) -> int:
        return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))

    def state(self) -> dict[str, object]:
        """What the GPU is doing now, for a window's details: performance state (P0 is
        the fastest), SM and memory clocks (MHz), temperature (deg C). A value NVML does
        not give is None."""
        h, n = self.handle, self.nvml
        pstate = self._optional("nvmlDeviceGetPerformanceState", h)
        sm = self._optional("nvmlDeviceGetClockInfo", h, getattr(n, "NVML_CLOCK_SM", 1))
        mem = self._optional("nvmlDeviceGetClockInfo", h, getattr(n, "NVML_CLOCK_MEM", 2))
        temp = self._optional("nvmlDeviceGetTemperature", h, getattr(n, "NVML_TEMPERATURE_GPU", 0))
        return {
            "pstate": f"P{pstate}" if isinstance(pstate, int) else None,
            "sm_clock_mhz": sm if isinstance(sm, int) else None,
            "mem_clock_mhz": mem if isinstance(mem, int) else None,
            "temperature_c": temp if isinstance(temp, int) else None,
        }

    def shutdown(self) -> None:
        with contextlib.suppress(self.nvml.NVMLError):
            self.nvml.nvmlShutdown()


def measure_counter_period(gpu: NvmlGpu, budget_s: float = 1.0, changes: int = 3) -> float | None:
    """Median interval between changes of the energy counter, polled for at most budget_s."""
    deadline = time.perf_counter() + budget_s
    last = gpu.energy_mj()
    stamps: list[float] = []
    while time.perf_counter() < deadline and len(stamps) <= changes:
        v = gpu.energy_mj()
        if v != last:
            stamps.append(time.perf_counter())
            last = v
        else:
            time.sleep(0.001)
    if len(stamps) < 2:
        return None
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    return gaps[len(gaps) // 2]


class NvmlConfig(MeterConfig):
    """NVIDIA GPU energy through NVML (total-energy counter, or power polling), MEASURED"""

    covers: ClassVar[str] = "the GPU"
    boundaries: ClassVar[tuple[str, ...] | None] = ("gpu",)

    meter: Literal["nvml"] = "nvml"
    index: int = Field(default=0, ge=0)  # NVML index (not the CUDA index)
    mode: Literal["auto", "counter", "polling"] = "auto"
    poll_period_s: SamplingPeriod = DEFAULT_POLL_PERIOD_S

    @classmethod
    def from_spec(cls, arg: str | None, device: str, boundary: str | None) -> NvmlConfig:
        if arg is not None:
            if not arg.isdigit():
                raise MeterError(f"nvml:INDEX needs an integer GPU index, got {arg!r}")
            return cls(index=int(arg))
        cuda = cuda_index(device)
        return cls(index=cuda_index_to_nvml(cuda) if cuda is not None else 0)

    @classmethod
    def detect(cls, device: str) -> NvmlConfig | None:
        cuda = cuda_index(device)
        return None if cuda is None else cls(index=cuda_index_to_nvml(cuda))

    @classmethod
    def status(cls) -> tuple[bool, str]:
        return nvml_status()

    def build(self) -> Meter:
        return open_nvml_meter(self.index, mode=self.mode, poll_period_s=self.poll_period_s)


class _CounterWatch:
    """A thread that reads the energy counter during a window, every half update period
    (never faster than ``OBSERVE_POLL_S``), and counts the reads that saw it change: the
    counter updates observed. Its energy is not used (the edges give the energy)."""

    def __init__(self, gpu: NvmlGpu, period_s: float) -> None:
        self.gpu = gpu
        self.period_s = period_s
        self.changes = 0
        self._last: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def see(self, value: int) -> None:
        if self._last is not None and value != self._last:
            self.changes += 1
        self._last = value

    def start(self, first: int) -> None:
        self.changes, self._last = 0, first
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="nvml-counter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            with contextlib.suppress(self.gpu.nvml.NVMLError):
                self.see(self.gpu.energy_mj())


class NvmlEnergyCounterMeter(Meter):
    """GPU energy from NVML's total-energy counter, read at the window edges; its updates
    are observed during the window by reads every half update period."""

    def __init__(self, gpu: NvmlGpu, measure_period: bool = True) -> None:
        super().__init__()
        self.gpu = gpu
        gpu.energy_mj()  # raises NVMLError (NotSupported) before Volta: caller falls back
        measured = measure_counter_period(gpu) if measure_period else None
        self.update_period_s = measured if measured is not None else NOMINAL_COUNTER_PERIOD_S
        self.info = MeterInfo(
            name="nvml",
            source=f"NVML nvmlDeviceGetTotalEnergyConsumption, GPU {gpu.index} "
            f"({gpu.details['gpu_name']})",
            boundary="gpu",
            measurement=Measurement.MEASURED,
            sampling_period_s=self.update_period_s,
            uncertainty_rel=UNCERTAINTY_REL,
            details={
                **gpu.details,
                "method": "total-energy counter (mJ) read at the window edges",
                "counter_update_period_s": self.update_period_s,
                "counter_update_period_source": "measured at start (median interval between "
                "counter changes)"
                if measured is not None
                else f"assumed {NOMINAL_COUNTER_PERIOD_S} s (H100 figure)",
                "edge_uncertainty": "each window edge is uncertain by up to one counter update",
                "uncertainty_source": UNCERTAINTY_SOURCE,
                "sensor_updates_observed_as": "counter changes seen by reads every half "
                "update period during the window",
                "window_gpu_state": "P-state, SM and memory clocks, temperature at each edge",
            },
        )
        self._e0 = 0
        self._watch = _CounterWatch(gpu, max(self.update_period_s / 2, OBSERVE_POLL_S))
        self._state0: dict[str, object] = {}

    @property
    def config(self) -> NvmlConfig:
        return NvmlConfig(index=self.gpu.index, mode="counter")

    def close(self) -> None:
        self._watch.stop()
        self.gpu.shutdown()

    def observation_period_s(self) -> float:
        return max(self.update_period_s, self._watch.period_s)

    def _begin(self) -> None:
        self._e0 = self.gpu.energy_mj()
        self._state0 = self.gpu.state()
        self._watch.start(self._e0)

    def _end(self, duration_s: float) -> WindowReading:
        try:
            e1 = self.gpu.energy_mj()
        except self.gpu.nvml.NVMLError as e:
            self._watch.stop()
            return WindowReading(
                0.0, duration_s, self._watch.changes, False, f"NVML energy read failed: {e}"
            )
        self._watch.stop()
        self._watch.see(e1)
        updates = self._watch.changes
        details = {"gpu_state": {"begin": self._state0, "end": self.gpu.state()}}
        if e1 < self._e0:
            return WindowReading(
                0.0,
                duration_s,
                updates,
                False,
                f"NVML energy counter went backwards ({self._e0} -> {e1} mJ): "
                "driver reload or GPU reset during the window",
                details,
            )
        return WindowReading((e1 - self._e0) / 1000, duration_s, updates, details=details)


class NvmlPowerPollingMeter(SampledPowerMeter):
    """GPU energy integrated from power polled in a background thread (pre-Volta fallback)."""

    def __init__(
        self, gpu: NvmlGpu, period_s: float = DEFAULT_POLL_PERIOD_S, reason: str | None = None
    ) -> None:
        super().__init__(period_s)
        self.gpu = gpu
        nvml = gpu.nvml
        self._field = getattr(nvml, "NVML_FI_DEV_POWER_INSTANT", None)
        self._instant = self._field is not None and self._try_instant()
        if self._instant:
            power_call = "nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT), instantaneous"
        else:
            power_call = (
                "nvmlDeviceGetPowerUsage (instantaneous power field not available: on Ampere "
                "and newer this is a one-second average, which smears the window edges)"
            )
        self.read_power_w()
        self.info = MeterInfo(
            name="nvml",
            source=f"NVML power polling, GPU {gpu.index} ({gpu.details['gpu_name']})",
            boundary="gpu",
            measurement=Measurement.MEASURED,
            sampling_period_s=period_s,
            uncertainty_rel=UNCERTAINTY_REL,
            details={
                **gpu.details,
                "method": f"power polled every {period_s} s and integrated (trapezoid)",
                "power_call": power_call,
                "instantaneous_power": self._instant,
                "why_polling": reason,
                "uncertainty_source": UNCERTAINTY_SOURCE,
            },
        )

    @property
    def config(self) -> NvmlConfig:
        return NvmlConfig(index=self.gpu.index, mode="polling", poll_period_s=self.period_s)

    def _try_instant(self) -> bool:
        try:
            self._read_instant_mw()
        except (self.gpu.nvml.NVMLError, MeterError):
            return False
        return True

    def _read_instant_mw(self) -> int:
        fv = self.gpu.nvml.nvmlDeviceGetFieldValues(self.gpu.handle, [self._field])[0]
        if fv.nvmlReturn != getattr(self.gpu.nvml, "NVML_SUCCESS", 0):
            raise MeterError(f"NVML_FI_DEV_POWER_INSTANT returned status {fv.nvmlReturn}")
        return int(fv.value.uiVal)

    def read_power_w(self) -> float:
        if self._instant:
            return self._read_instant_mw() / 1000
        return self.gpu.nvml.nvmlDeviceGetPowerUsage(self.gpu.handle) / 1000

    def _begin(self) -> None:
        self._state0 = self.gpu.state()
        super()._begin()

    def _end(self, duration_s: float) -> WindowReading:
        r = super()._end(duration_s)
        state = {"begin": self._state0, "end": self.gpu.state()}
        return dataclasses.replace(r, details={**r.details, "gpu_state": state})

    def close(self) -> None:
        super().close()
        self.gpu.shutdown()


def open_nvml_meter(
    index: int = 0,
    nvml: Any = None,
    mode: str = "auto",
    poll_period_s: float = DEFAULT_POLL_PERIOD_S,
    measure_period: bool = True,
) -> Meter:
    """The best NVML meter for GPU ``index``: the energy counter, else power polling.

    ``nvml`` is the pynvml module or an object with the same functions (tests inject one).
    """
    if mode not in MODES:
        raise MeterError(f"unknown NVML mode {mode!r}; choose one of {MODES}")
    gpu = NvmlGpu(index, nvml)
    try:
        if mode in ("auto", "counter"):
            try:
                return NvmlEnergyCounterMeter(gpu, measure_period=measure_period)
            except gpu.nvml.NVMLError as e:
                if mode == "counter":
                    raise MeterError(
                        f"NVML energy counter not available on GPU {index}: {e}"
                    ) from e
                reason = f"energy counter not available ({e}): needs Volta or newer"
                return NvmlPowerPollingMeter(gpu, poll_period_s, reason)
        return NvmlPowerPollingMeter(gpu, poll_period_s, "polling requested")
    except (MeterError, gpu.nvml.NVMLError) as e:
        gpu.shutdown()
        if isinstance(e, MeterError):
            raise
        raise MeterError(f"NVML: cannot read power of GPU {index}: {e}") from e


_CUDA_RE = re.compile(r"^cuda(?::(\d+))?$")


def cuda_index(device: str) -> int | None:
    """The CUDA index of a "cuda"/"cuda:N" device, None for any other device."""
    m = _CUDA_RE.match(device.strip().lower())
    return None if m is None else int(m.group(1) or 0)


def cuda_index_to_nvml(cuda_index: int) -> int:
    """NVML ignores CUDA_VISIBLE_DEVICES: map cuda:N to the NVML index it names (when the
    variable lists integer indices; with UUIDs or unset, N is taken as the NVML index)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if not visible:
        return cuda_index
    entries = [v.strip() for v in visible.split(",") if v.strip()]
    if cuda_index < len(entries) and entries[cuda_index].isdigit():
        return int(entries[cuda_index])
    return cuda_index


def nvml_status() -> tuple[bool, str]:
    """(available, one-line description) for `ecoscore meters`."""
    try:
        nvml = load_pynvml()
    except MeterError as e:
        return False, str(e)
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as e:
        return False, f"NVML cannot start: {e}"
    try:
        names = [
            _text(nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(i)))
            for i in range(nvml.nvmlDeviceGetCount())
        ]
    finally:
        nvml.nvmlShutdown()
    if not names:
        return False, "NVML started but sees no GPU"
    return True, "; ".join(f"nvml:{i} {n}" for i, n in enumerate(names))
