"""onnxruntime, on the CPU or (with onnxruntime-gpu) on an NVIDIA GPU, with its threading
and optimisation settings explicit and recorded.

On a CUDA device the TensorRT then the CUDA execution provider is used, whichever this
onnxruntime offers; without either it runs on the CPU and says why (``fallback_reason``),
never silently.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from ecoscore.runners.engines.base import (
    Engine,
    EngineConfig,
    EngineError,
    EngineInfo,
    InputMeta,
    LoadHints,
    OutputMeta,
    QuantParams,
)
from ecoscore.runners.model_files import check_onnx_file, onnx_parameter_count
from ecoscore.runners.onnx_graph import OnnxGraph

_OPT_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}
#: onnxruntime execution providers for a GPU device, best first.
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
#: ONNX tensor type names -> numpy dtype names.
_ONNX_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "str",
}


class OnnxRuntimeConfig(EngineConfig):
    """``threads`` is the intra-op thread count (None: one per logical CPU). ``threads`` and
    ``spinning`` may be ``"auto"`` (chosen per scenario, ``ecoscore.runners.tuning``; the
    engine starts at one thread per logical CPU, spinning on)."""

    formats: ClassVar[tuple[str, ...]] = ("onnx",)
    thread_settings: ClassVar[tuple[str, ...]] = ("threads", "inter_op_threads")
    tunable: ClassVar[tuple[str, ...]] = ("threads", "spinning")

    engine: Literal["onnxruntime"] = "onnxruntime"
    precision: Literal["fp32"] = "fp32"
    inter_op_threads: int = Field(default=1, ge=1)
    spinning: bool | Literal["auto"] = True
    graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"
    #: GPU execution provider to use (default: the best this onnxruntime offers).
    provider: Literal["TensorrtExecutionProvider", "CUDAExecutionProvider"] | None = None

    def build(self) -> OnnxRuntimeEngine:
        return OnnxRuntimeEngine(self)


class OnnxRuntimeEngine(Engine):
    can_abort = True  # RunOptions.terminate is checked between operators, inside Loop too
    libraries = ("onnxruntime",)

    def __init__(self, config: OnnxRuntimeConfig) -> None:
        import onnxruntime as ort

        self._ort = ort
        threads = config.threads if isinstance(config.threads, int) else os.cpu_count() or 1
        spinning = config.spinning if isinstance(config.spinning, bool) else True
        super().__init__(config.model_copy(update={"threads": threads, "spinning": spinning}))
        self.settings: OnnxRuntimeConfig = self.config  # type: ignore[assignment]
        self.providers = self._providers(config)
        self._sess: Any = None
        self._in_name = ""
        self._first_out: list[str] = []
        self._path: Path | None = None
        self._graph: OnnxGraph | None = None
        self._run_options = self._new_run_options()

    def _providers(self, config: OnnxRuntimeConfig) -> list[tuple[str, dict[str, str]]]:
        device = config.device
        if device == "cpu":
            return [("CPUExecutionProvider", {})]
        if not device.startswith("cuda"):
            raise EngineError(f"onnxruntime: unknown device {device!r} (cpu, cuda, cuda:N)")
        index = device.partition(":")[2] or "0"
        available = self._ort.get_available_providers()
        order = [config.provider] if config.provider else list(GPU_PROVIDERS)
        chosen = [p for p in order if p in available]
        if chosen:
            return [(p, {"device_id": index}) for p in chosen] + [("CPUExecutionProvider", {})]
        self.fallback_reason = (
            f"onnxruntime {self._ort.__version__} here has no {' or '.join(order)} (available: "
            f"{', '.join(available)}); install onnxruntime-gpu for the GPU. Ran on the CPU."
        )
        return [("CPUExecutionProvider", {})]

    def load(self, path: Path, hints: LoadHints | None = None) -> None:
        check_onnx_file(path)
        self._sess = self._session(path)
        inputs = self._sess.get_inputs()
        if len(inputs) != 1:
            raise EngineError(
                f"{path}: the model has {len(inputs)} inputs; ecoscore workloads feed exactly one"
            )
        self._in_name = inputs[0].name
        self._first_out = [self._sess.get_outputs()[0].name]
        self._path, self._graph = Path(path), None
        self.parameter_count = onnx_parameter_count(path)

    def apply_settings(self, **settings: Any) -> None:
        """New intra-op threads or spinning need a new session (its options are fixed when
        it is made); the output chosen is kept."""
        unknown = sorted(set(settings) - set(OnnxRuntimeConfig.tunable))
        if unknown:
            raise EngineError(f"onnxruntime cannot change {unknown} of a loaded model")
        assert self._path is not None, "load() first"
        previous = self.config
        self.config = self.settings = previous.model_copy(update=settings)  # type: ignore[assignment]
        try:
            self._sess = self._session(self._path)
        except EngineError:
            self.config = self.settings = previous  # type: ignore[assignment]
            raise

    def _session(self, path: Path) -> Any:
        ort, c = self._ort, self.settings
        so = ort.SessionOptions()
        so.intra_op_num_threads = c.threads or 1
        so.inter_op_num_threads = c.inter_op_threads
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, _OPT_LEVELS[c.graph_optimization]
        )
        spin = "1" if c.spinning else "0"
        so.add_session_config_entry("session.intra_op.allow_spinning", spin)
        so.add_session_config_entry("session.inter_op.allow_spinning", spin)
        so.log_severity_level = 3
        try:
            return ort.InferenceSession(str(path), so, providers=self.providers)
        except Exception as e:  # onnxruntime raises its own exception types
            raise EngineError(f"{path}: onnxruntime cannot load the model: {e}") from None

    def input_meta(self) -> InputMeta:
        i = self._sess.get_inputs()[0]
        return InputMeta(i.name, tuple(i.shape), _ONNX_TYPES.get(i.type, i.type))

    def output_metas(self) -> list[OutputMeta]:
        return [
            OutputMeta(o.name, tuple(o.shape), _ONNX_TYPES.get(o.type, o.type))
            for o in self._sess.get_outputs()
        ]

    def select_output(self, name: str) -> None:
        names = [o.name for o in self._sess.get_outputs()]
        if name not in names:
            raise EngineError(f"{self._path}: no output {name!r} (outputs: {', '.join(names)})")
        self._first_out = [name]

    def _onnx_graph(self) -> OnnxGraph:
        if self._graph is None:
            assert self._path is not None, "load() first"
            self._graph = OnnxGraph(self._path)
        return self._graph

    def input_quantization(self) -> QuantParams | None:
        return self._onnx_graph().input_quantization(self._in_name)

    def output_quantization(self, name: str) -> QuantParams | None:
        return self._onnx_graph().output_quantization(name)

    def model_metadata(self) -> dict[str, str]:
        return {"producer_name": self._sess.get_modelmeta().producer_name}

    def _new_run_options(self) -> Any:
        options = self._ort.RunOptions()
        options.log_severity_level = 4  # an abort is reported by ecoscore, not logged
        return options

    def run(self, x: np.ndarray) -> np.ndarray:
        return self._sess.run(self._first_out, {self._in_name: x}, self._run_options)[0]

    def abort(self) -> None:
        self._run_options.terminate = True

    def resume(self) -> None:
        self._run_options = self._new_run_options()

    def info(self) -> EngineInfo:
        c = self.settings
        quant = self._onnx_graph().quantization() if self._path is not None else None
        return EngineInfo(
            name="onnxruntime",
            version=self._ort.__version__,
            device=c.device if self.fallback_reason is None else "cpu",
            precision="int8" if quant and quant.format else c.precision,
            settings={
                "model_quantization": quant.describe() if quant else None,
                "execution_providers": self._sess.get_providers() if self._sess else [],
                "provider_options": {name: opts for name, opts in self.providers},
                "provider_fallback_reason": self.fallback_reason,
                "intra_op_num_threads": c.threads,
                "inter_op_num_threads": c.inter_op_threads,
                "allow_spinning": c.spinning,
                "graph_optimization_level": _OPT_LEVELS[c.graph_optimization],
                "execution_mode": "ORT_SEQUENTIAL",
            },
        )

    def close(self) -> None:
        self._sess = None
