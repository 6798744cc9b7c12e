"""torch on an NVIDIA GPU: fp32, fp16 or bf16; optional channels-last, torch.compile and a
CUDA graph for batch 1. The GPU is synchronised at every window edge by the loop (and after
each single-stream query, to time it), so energy and time cover the same work.

Inputs are copied to the GPU once, before timing (``prepare``); the timed call is the model
on device-resident tensors. Quality is computed through ``run`` with the same precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ecoscore.runners.engines.base import EngineInfo, EngineUnavailable
from ecoscore.runners.engines.torch_engine import TorchConfig, TorchEngine


class TorchCudaEngine(TorchEngine):
    needs_sync = True

    def __init__(self, config: TorchConfig) -> None:
        device = config.device if ":" in config.device else "cuda:0"
        super().__init__(config.model_copy(update={"device": device}))
        torch = self.torch
        if not torch.cuda.is_available():
            raise EngineUnavailable(
                "torch on CUDA needs an NVIDIA GPU and a CUDA build of torch; "
                f"this torch ({torch.__version__}) sees no GPU"
            )
        self.device = device
        self.dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[
            self.settings.precision
        ]
        torch.backends.cudnn.benchmark = True

    def _after_load(self) -> None:
        torch = self.torch
        mod = self._module.to(self.device)
        if self.settings.precision != "fp32":
            mod = mod.to(self.dtype)
        self._module = torch.compile(mod) if self.settings.compile else mod

    def _to_device(self, x: np.ndarray) -> Any:
        t = self.torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        if t.is_floating_point():
            t = t.to(self.dtype)
        if self.settings.channels_last and t.dim() == 4:
            t = t.contiguous(memory_format=self.torch.channels_last)
        return t

    def run(self, x: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            y = self._module(self._to_device(x))
        return self._pick(y).float().cpu().numpy()

    def prepare(self, x: np.ndarray) -> Any:
        t = self._to_device(x)
        if self.settings.cuda_graph and t.shape[0] == 1:
            return self._graph_for(t)
        return t

    def _graph_for(self, t: Any) -> Any:
        """Capture a CUDA graph of the model on a static input (batch 1)."""
        torch = self.torch
        static_in = t.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.inference_mode(), torch.cuda.stream(stream):
            for _ in range(3):
                self._module(static_in)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph):
            static_out = self._module(static_in)
        return _GraphCall(graph, static_in, static_out)

    def run_prepared(self, x: Any) -> Any:
        if isinstance(x, _GraphCall):
            x.graph.replay()
            return x.out
        with self.torch.inference_mode():
            return self._module(x)

    def synchronize(self) -> None:
        self.torch.cuda.synchronize(self.device)

    def info(self) -> EngineInfo:
        torch = self.torch
        props = torch.cuda.get_device_properties(self.device)
        return EngineInfo(
            name="torch",
            version=torch.__version__,
            device=self.device,
            precision=self.settings.precision,
            settings={
                "gpu": props.name,
                "cuda_runtime": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version(),
                "channels_last": self.settings.channels_last,
                "torch_compile": self.settings.compile,
                "cuda_graph_batch1": self.settings.cuda_graph,
                "cudnn_benchmark": True,
                "peak_gpu_memory_bytes": int(torch.cuda.max_memory_allocated(self.device)),
                "loader": "torch.export.load",
            },
        )


class _GraphCall:
    __slots__ = ("graph", "inp", "out")

    def __init__(self, graph: Any, inp: Any, out: Any) -> None:
        self.graph, self.inp, self.out = graph, inp, out
