"""Engines by name; each engine module is imported only when asked for."""

from __future__ import annotations

from typing import Any

from ecoscore.runners.engines.base import Engine, EngineError

ENGINES = ("onnxruntime", "torch")

#: onnxruntime execution providers for a GPU device, best first.
_ORT_GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def make_engine(name: str, device: str = "cpu", **options: Any) -> Engine:
    """An engine for ``device`` ("cpu", "cuda", "cuda:N"). Options are engine settings."""
    if name == "onnxruntime":
        return _onnxruntime(device, **options)
    if name == "torch":
        if device == "cpu":
            from ecoscore.runners.engines.torch_cpu import TorchEngine

            return TorchEngine(**options)
        if device.startswith("cuda"):
            from ecoscore.runners.engines.torch_cuda import TorchCudaEngine

            return TorchCudaEngine(device=device, **options)
        raise EngineError(f"torch engine: unknown device {device!r} (cpu, cuda, cuda:N)")
    if name == "tensorrt":
        from ecoscore.runners.engines.tensorrt_engine import TensorRTEngine

        return TensorRTEngine(device=device, **options)
    raise EngineError(f"unknown engine {name!r}; known engines: {', '.join(ENGINES)}, tensorrt")


def _onnxruntime(device: str, **options: Any) -> Engine:
    from ecoscore.runners.engines.onnxruntime_cpu import OnnxRuntimeCpuEngine

    if device == "cpu":
        return OnnxRuntimeCpuEngine(**options)
    if not device.startswith("cuda"):
        raise EngineError(f"onnxruntime: unknown device {device!r} (cpu, cuda, cuda:N)")
    import onnxruntime as ort

    index = device.partition(":")[2] or "0"
    available = ort.get_available_providers()
    wanted = options.pop("provider", None)
    order = [wanted] if wanted else list(_ORT_GPU_PROVIDERS)
    chosen = [p for p in order if p in available]
    if chosen:
        providers = [(p, {"device_id": index}) for p in chosen] + [("CPUExecutionProvider", {})]
        return OnnxRuntimeCpuEngine(providers=providers, device=device, **options)
    engine = OnnxRuntimeCpuEngine(**options)
    engine.fallback_reason = (
        f"onnxruntime {ort.__version__} here has no {' or '.join(order)} (available: "
        f"{', '.join(available)}); install onnxruntime-gpu for the GPU. Ran on the CPU instead."
    )
    return engine


def engine_for_format(fmt: str) -> str:
    return {"onnx": "onnxruntime", "pt2": "torch"}[fmt]
