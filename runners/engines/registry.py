"""Engines by name; each engine module is imported only when asked for."""

from __future__ import annotations

from typing import Any

from runners.engines.base import Engine, EngineError

ENGINES = ("onnxruntime", "torch")


def make_engine(name: str, device: str = "cpu", **options: Any) -> Engine:
    if name == "onnxruntime":
        if device != "cpu":
            raise EngineError(f"onnxruntime on {device!r} is not available in this build")
        from runners.engines.onnxruntime_cpu import OnnxRuntimeCpuEngine

        return OnnxRuntimeCpuEngine(**options)
    if name == "torch":
        if device != "cpu":
            raise EngineError(f"torch on {device!r} is not available in this build")
        from runners.engines.torch_cpu import TorchEngine

        return TorchEngine(**options)
    raise EngineError(f"unknown engine {name!r}; known engines: {', '.join(ENGINES)}")


def engine_for_format(fmt: str) -> str:
    return {"onnx": "onnxruntime", "pt2": "torch"}[fmt]
