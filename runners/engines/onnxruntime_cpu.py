"""onnxruntime on the CPU, with its threading and optimisation settings explicit and recorded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from ecoscore.runners.engines.base import Engine, EngineError, EngineInfo
from ecoscore.runners.model_files import check_onnx_file

_OPT_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


class OnnxRuntimeCpuEngine(Engine):
    name = "onnxruntime"
    formats = ("onnx",)

    def __init__(
        self,
        intra_op_threads: int | None = None,
        inter_op_threads: int = 1,
        allow_spinning: bool = True,
        graph_optimization: str = "all",
        providers: list[tuple[str, dict[str, str]]] | None = None,
        device: str = "cpu",
    ) -> None:
        import onnxruntime as ort

        self._ort = ort
        self.intra_op_threads = intra_op_threads or (os.cpu_count() or 1)
        self.inter_op_threads = inter_op_threads
        self.allow_spinning = allow_spinning
        if graph_optimization not in _OPT_LEVELS:
            raise EngineError(f"graph optimisation level must be one of {list(_OPT_LEVELS)}")
        self.graph_optimization = graph_optimization
        self.providers = providers or [("CPUExecutionProvider", {})]
        self.device = device
        self.fallback_reason: str | None = None
        self._sess: Any = None
        self._in_name = ""
        self._out_names: list[str] = []

    def load(self, path: Path) -> None:
        ort = self._ort
        check_onnx_file(path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.intra_op_threads
        so.inter_op_num_threads = self.inter_op_threads
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, _OPT_LEVELS[self.graph_optimization]
        )
        so.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if self.allow_spinning else "0"
        )
        so.add_session_config_entry(
            "session.inter_op.allow_spinning", "1" if self.allow_spinning else "0"
        )
        so.log_severity_level = 3
        try:
            self._sess = ort.InferenceSession(str(path), so, providers=self.providers)
        except Exception as e:  # onnxruntime raises its own exception types
            raise EngineError(f"{path}: onnxruntime cannot load the model: {e}") from None
        inputs = self._sess.get_inputs()
        if len(inputs) != 1:
            raise EngineError(
                f"{path}: the model has {len(inputs)} inputs; ecoscore workloads feed exactly one"
            )
        self._in_name = inputs[0].name
        self._out_names = [o.name for o in self._sess.get_outputs()]
        self._first_out = [self._out_names[0]]

    def input_names(self) -> list[str]:
        return [self._in_name]

    def input_meta(self) -> tuple[str, list[Any], str]:
        i = self._sess.get_inputs()[0]
        return i.name, list(i.shape), i.type

    def run(self, x: np.ndarray) -> np.ndarray:
        return self._sess.run(self._first_out, {self._in_name: x})[0]

    def info(self) -> EngineInfo:
        return EngineInfo(
            name=self.name,
            version=self._ort.__version__,
            device=self.device,
            precision="fp32",
            settings={
                "execution_providers": self._sess.get_providers() if self._sess else [],
                "provider_options": {name: opts for name, opts in self.providers},
                "provider_fallback_reason": self.fallback_reason,
                "intra_op_num_threads": self.intra_op_threads,
                "inter_op_num_threads": self.inter_op_threads,
                "allow_spinning": self.allow_spinning,
                "graph_optimization_level": _OPT_LEVELS[self.graph_optimization],
                "execution_mode": "ORT_SEQUENTIAL",
            },
        )

    def close(self) -> None:
        self._sess = None
