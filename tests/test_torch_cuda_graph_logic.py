"""The CUDA engine's batch-1 graph logic, on the CPU: ``torch.cuda``'s streams and graphs
are replaced by stand-ins that run the captured call when the graph is replayed, so the
control flow is checked without a GPU (capture once, before timing, on a static buffer;
each query copied into it; offline batches and the quality pass; a failed capture falls
back with a reason). The real capture is checked by tests/test_gpu_engines.py on a GPU."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from ecoscore.models.registry import reference_model
from ecoscore.runners.engines.registry import engine_config, make_engine

torch = pytest.importorskip("torch", reason="the torch extra is not installed")


class FakeGraph:
    """Replays by running the captured function on the static input into the static output."""

    made: list[FakeGraph] = []

    def __init__(self) -> None:
        self.replays = 0
        self.bound: tuple | None = None
        FakeGraph.made.append(self)

    def replay(self) -> None:
        self.replays += 1
        fn, inp, out = self.bound  # type: ignore[misc]
        with torch.inference_mode():
            out.copy_(fn(inp))


class FakeStream:
    def __init__(self, *_args: object) -> None:
        pass

    def wait_stream(self, _other: object) -> None:
        pass


@pytest.fixture
def fake_cuda(monkeypatch):
    FakeGraph.made = []
    cuda = torch.cuda
    monkeypatch.setattr(cuda, "is_available", lambda: True)
    monkeypatch.setattr(cuda, "Stream", FakeStream)
    monkeypatch.setattr(cuda, "current_stream", lambda *_a: FakeStream())
    monkeypatch.setattr(cuda, "stream", lambda _s: contextlib.nullcontext())
    monkeypatch.setattr(cuda, "graph", lambda _g: contextlib.nullcontext())
    monkeypatch.setattr(cuda, "CUDAGraph", FakeGraph)
    monkeypatch.setattr(cuda, "synchronize", lambda *_a: None)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)
    return cuda


def _cuda_engine(**settings):
    """A TorchCudaEngine whose tensors stay on the CPU (the device moves are the only
    change), its graphs bound to the call they captured."""
    from ecoscore.runners.engines.torch_cuda import TorchCudaEngine

    class CpuBackedCuda(TorchCudaEngine):
        def _place(self, t):
            return t

        def _to_device(self, x):
            return torch.from_numpy(np.ascontiguousarray(x)).clone()

        def _capture(self, t):
            super()._capture(t)
            if self._graph is not None:
                self._graph.graph.bound = (self._fn, self._graph.inp, self._graph.out)

    config = engine_config("torch", device="cuda:0", threads=1, **settings)
    engine = CpuBackedCuda(config)
    engine.load(reference_model("vision-digits").file("pt2"))
    return engine


def _cpu_outputs(x: np.ndarray) -> np.ndarray:
    cpu = make_engine("torch", threads=1)
    cpu.load(reference_model("vision-digits").file("pt2"))
    return cpu.run(x)


def test_batch_one_replays_one_graph_captured_before_timing(fake_cuda):
    engine = _cuda_engine()
    assert engine.settings.cuda_graph is True  # the default on CUDA
    x = np.random.default_rng(1).random((5, 1, 8, 8)).astype(np.float32)
    prepared = [engine.prepare(x[i : i + 1]) for i in range(5)]
    assert len(FakeGraph.made) == 1  # captured once, at the first batch-1 input
    assert all(type(p).__name__ == "GraphInput" for p in prepared)
    outs = [engine.run_prepared(p).clone() for p in prepared]  # each query into the buffer
    assert FakeGraph.made[0].replays == 5
    one_by_one = np.concatenate([_cpu_outputs(x[i : i + 1]) for i in range(5)])
    np.testing.assert_array_equal(np.concatenate([o.numpy() for o in outs]), one_by_one)
    batched = engine.prepare(x)  # the offline batch: the plain call
    assert isinstance(batched, torch.Tensor)
    np.testing.assert_array_equal(engine.run_prepared(batched).numpy(), _cpu_outputs(x))
    np.testing.assert_array_equal(engine.run(x[:1]), _cpu_outputs(x[:1]))  # quality: replay
    assert FakeGraph.made[0].replays == 6
    assert engine.fallback_reason is None and engine._graph is not None


def test_no_graph_when_turned_off(fake_cuda):
    engine = _cuda_engine(cuda_graph=False)
    x = np.zeros((1, 1, 8, 8), np.float32)
    assert isinstance(engine.prepare(x), torch.Tensor) and not FakeGraph.made


def test_a_failed_capture_falls_back_with_a_reason(fake_cuda, monkeypatch):
    def refuse(_g):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(fake_cuda, "graph", refuse)
    engine = _cuda_engine()
    x = np.random.default_rng(2).random((2, 1, 8, 8)).astype(np.float32)
    p = engine.prepare(x[:1])
    assert isinstance(p, torch.Tensor)
    assert engine.fallback_reason.startswith("CUDA graph capture failed (operation not permitted")
    assert engine.fallback_reason.endswith("batch 1 runs without a graph")
    engine.prepare(x[1:])  # not tried again
    np.testing.assert_array_equal(engine.run(x[1:]), _cpu_outputs(x[1:]))
