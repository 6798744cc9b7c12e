"""Describe an NVIDIA GPU through NVML for the record: name, driver and CUDA versions, power
limit, clocks, persistence mode. Returns what it can read; never changes a setting."""

from __future__ import annotations

from typing import Any


def describe_nvidia_gpu(index: int = 0) -> dict[str, Any]:
    try:
        import pynvml as nv
    except ImportError:
        return {"gpu_probe": "nvidia-ml-py not installed (pip install nvidia-ml-py)"}
    try:
        nv.nvmlInit()
    except Exception as e:  # NVMLError
        return {"gpu_probe": f"NVML unavailable: {e}"}
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
            "sm_clock_mhz": lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM),
            "mem_clock_mhz": lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM),
            "sm_clock_max_mhz": lambda: nv.nvmlDeviceGetMaxClockInfo(h, nv.NVML_CLOCK_SM),
            "mem_clock_max_mhz": lambda: nv.nvmlDeviceGetMaxClockInfo(h, nv.NVML_CLOCK_MEM),
            "memory_total_bytes": lambda: int(nv.nvmlDeviceGetMemoryInfo(h).total),
            "pcie_gen": lambda: nv.nvmlDeviceGetCurrPcieLinkGeneration(h),
            "temperature_c": lambda: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU),
            "compute_mode": lambda: int(nv.nvmlDeviceGetComputeMode(h)),
        }
        for key, fn in reads.items():
            try:
                out[key] = fn()
            except Exception as e:  # a field this GPU or driver does not support
                out[key] = f"unavailable ({type(e).__name__})"
        return out
    finally:
        nv.nvmlShutdown()


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _cuda(v: int) -> str:
    return f"{v // 1000}.{(v % 1000) // 10}"
