"""torch on an NVIDIA GPU: fp32, fp16 or bf16; optional channels-last and torch.compile; a
CUDA graph at batch 1 by default. The GPU is synchronised at every window edge by the loop
(and after each single-stream query, to time it), so energy and time cover the same work.

Rules this module enforces:
- inputs are copied to the GPU once, before timing (``prepare``); the timed call is the
  model on device-resident tensors, through the same call path as on the CPU (the flat
  graph, parameters bound once and placed on the GPU at load; runners/engines/torch_engine.py);
- a CUDA graph (``cuda_graph``, resolved true on CUDA) replays the model for batch-1
  inputs only (single stream; the offline batch runs the plain call). It is captured
  once, before anything is timed (at the first batch-1 ``prepare``: three calls on a side
  stream, then the capture) on a static input buffer; each query copies its input into that
  buffer on the device and replays the graph. A capture that fails leaves batch 1 on the
  plain call and says why in ``fallback_reason``; the engine info records whether the graph
  was captured;
- quality (``run``) goes through ``prepare`` and ``run_prepared``: the graph's output is
  the one graded.
"""

from __future__ import annotations

from collections.abc import Callable
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
        self._graph: GraphCall | None = None
        self._graph_failed = False

    def _place(self, t: Any) -> Any:
        t = t.to(self.device)
        return t.to(self.dtype) if t.is_floating_point() else t

    def _place_module(self, module: Any) -> Any:
        module = module.to(self.device)
        return module.to(self.dtype) if self.settings.precision != "fp32" else module

    def _finish(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return self.torch.compile(fn) if self.settings.compile else fn  # type: ignore[no-any-return]

    def _make_fn(self) -> Callable[[Any], Any]:
        self._graph = None  # a new output or model: capture again
        self._graph_failed = False
        return super()._make_fn()

    def _to_device(self, x: np.ndarray) -> Any:
        t = self.torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        if t.is_floating_point():
            t = t.to(self.dtype)
        if self.settings.channels_last and t.dim() == 4:
            t = t.contiguous(memory_format=self.torch.channels_last)
        return t

    def run(self, x: np.ndarray) -> np.ndarray:
        y = self.run_prepared(self.prepare(x))
        return y.float().cpu().numpy()  # type: ignore[no-any-return]

    def prepare(self, x: np.ndarray) -> Any:
        t = self._to_device(x)
        if self.settings.cuda_graph and t.shape[0] == 1 and not self._graph_failed:
            if self._graph is None:
                self._capture(t)
            if self._graph is not None and self._graph.fits(t):
                return GraphInput(t)
        return t

    def _capture(self, t: Any) -> None:
        """Capture a CUDA graph of the call on a static copy of ``t`` (batch 1)."""
        torch = self.torch
        fn = self._fn
        assert fn is not None, "load() first"
        try:
            static_in = t.clone()
            stream = torch.cuda.Stream(self.device)
            stream.wait_stream(torch.cuda.current_stream(self.device))
            with torch.inference_mode(), torch.cuda.stream(stream):
                for _ in range(3):
                    fn(static_in)
            torch.cuda.current_stream(self.device).wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.inference_mode(), torch.cuda.graph(graph):
                static_out = fn(static_in)
            torch.cuda.synchronize(self.device)
            self._graph = GraphCall(graph, static_in, static_out)
        except Exception as e:  # any capture failure: batch 1 runs the plain call
            self._graph_failed = True
            self.fallback_reason = (
                f"CUDA graph capture failed ({' '.join(str(e).split())[:200]}): batch 1 runs "
                "without a graph"
            )

    def run_prepared(self, x: Any) -> Any:
        if type(x) is GraphInput:
            g = self._graph
            g.inp.copy_(x.t)  # type: ignore[union-attr]
            g.graph.replay()  # type: ignore[union-attr]
            return g.out  # type: ignore[union-attr]
        with self.torch.inference_mode():
            return self._fn(x)  # type: ignore[misc]

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
                "cuda_graph_captured": self._graph is not None,
                "cudnn_benchmark": True,
                "peak_gpu_memory_bytes": int(torch.cuda.max_memory_allocated(self.device)),
                "loader": "torch.export.load",
                "call_path": self.call_path,
            },
        )

    def close(self) -> None:
        self._graph = None
        super().close()


class GraphCall:
    """A captured CUDA graph, its static input buffer and its output."""

    __slots__ = ("graph", "inp", "out")

    def __init__(self, graph: Any, inp: Any, out: Any) -> None:
        self.graph, self.inp, self.out = graph, inp, out

    def fits(self, t: Any) -> bool:
        return bool(t.shape == self.inp.shape and t.dtype == self.inp.dtype)


class GraphInput:
    """A prepared batch-1 input that runs by replaying the graph (copied into its buffer)."""

    __slots__ = ("t",)

    def __init__(self, t: Any) -> None:
        self.t = t
