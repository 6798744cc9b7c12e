"""The torch engine's call path: the exported program's graph called with flat tensors
(parameters bound once) gives exactly what ``ExportedProgram.module()`` gives, on every
bundled reference model; programs it cannot run fall back to ``module()`` with a reason;
the config resolves the CUDA-graph default by device, without a GPU."""

from pathlib import Path

import numpy as np
import pytest

from ecoscore.runners.engines.base import FROM_RECORD
from ecoscore.runners.engines.registry import config_from_record, engine_config, make_engine

torch = pytest.importorskip("torch", reason="the torch extra is not installed")

REPO = Path(__file__).resolve().parents[1]
PT2 = sorted(REPO.glob("models/*/*.pt2"))


def _inputs(engine, batch: int) -> np.ndarray:
    meta = engine.input_meta()
    shape = [batch if not isinstance(d, int) else d for d in meta.shape]
    return np.random.default_rng(7).random(shape).astype(meta.dtype)


@pytest.mark.parametrize("path", PT2, ids=[p.name for p in PT2])
def test_graph_path_is_identical_to_module_on_reference_models(path):
    assert PT2, "no .pt2 reference model found"
    graph = make_engine("torch", threads=1)
    graph.load(path)
    module = make_engine("torch", threads=1, call_path="module")
    module.load(path)
    assert graph.call_path == "graph" and graph.fallback_reason is None
    assert graph.info().settings["call_path"] == "graph"
    assert module.info().settings["call_path"] == "module"
    for batch in (1, 5):
        x = _inputs(graph, batch)
        a, b = graph.run(x), module.run(x)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b)  # bit for bit: the same aten calls on the same tensors
        timed = graph.run_prepared(graph.prepare(x))
        assert torch.equal(timed, torch.from_numpy(b))  # the timed call, the same numbers


class _Counting(torch.nn.Module):
    """Mutates a buffer on every call: once functionalised (``run_decompositions``) the
    program returns the new buffer as an output, which the flat graph does not write back."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("calls", torch.zeros(()))
        self.lin = torch.nn.Linear(4, 3)

    def forward(self, x):
        self.calls.add_(1)
        return self.lin(x)


class _TwoHeads(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)
        self.register_buffer("scale", torch.tensor([2.0, 3.0, 4.0]))

    def forward(self, x):
        y = self.lin(x)
        return y, y * self.scale


def _export(module, path: Path, functional: bool = False) -> Path:
    torch.manual_seed(0)
    batch = torch.export.Dim("batch", min=1, max=1024)
    ep = torch.export.export(module, (torch.zeros(2, 4),), dynamic_shapes=({0: batch},))
    if functional:
        ep = ep.run_decompositions()
    torch.export.save(ep, str(path))
    return path


def test_a_program_that_mutates_a_buffer_runs_through_module_with_a_reason(tmp_path):
    torch.manual_seed(0)
    path = _export(_Counting().eval(), tmp_path / "counting.pt2", functional=True)
    engine = make_engine("torch", threads=1)
    engine.load(path)
    assert engine.call_path == "module"
    assert "BUFFER_MUTATION" in engine.fallback_reason
    assert "counting.pt2" in engine.fallback_reason
    assert engine.info().settings["call_path"] == "module"
    assert engine.run(np.ones((2, 4), np.float32)).shape == (2, 3)


def test_an_in_place_buffer_update_runs_on_the_graph_path_as_in_module(tmp_path):
    """torch.export's default IR keeps the update in place: both paths update the buffer."""
    path = _export(_Counting().eval(), tmp_path / "counting.pt2")
    engines = [make_engine("torch", threads=1, call_path=p) for p in ("graph", "module")]
    x = np.ones((2, 4), np.float32)
    for engine in engines:
        engine.load(path)
    assert engines[0].call_path == "graph"
    np.testing.assert_array_equal(engines[0].run(x), engines[1].run(x))


def test_the_graph_path_reads_the_selected_output(tmp_path):
    torch.manual_seed(0)
    path = _export(_TwoHeads().eval(), tmp_path / "two.pt2")
    graph = make_engine("torch", threads=1)
    graph.load(path)
    module = make_engine("torch", threads=1, call_path="module")
    module.load(path)
    assert graph.call_path == "graph"
    x = np.random.default_rng(0).random((3, 4)).astype(np.float32)
    second = graph.output_metas()[1].name
    for engine in (graph, module):
        engine.select_output(second)
    np.testing.assert_array_equal(graph.run(x), module.run(x))
    first = graph.output_metas()[0].name
    graph.select_output(first)
    assert not np.array_equal(graph.run(x), module.run(x))


def test_cuda_graph_default_is_resolved_by_device():
    assert engine_config("torch", device="cuda").cuda_graph is True
    assert engine_config("torch", device="cuda:1").cuda_graph is True
    assert engine_config("torch", device="cuda", cuda_graph=False).cuda_graph is False
    assert engine_config("torch", device="cpu").cuda_graph is False
    assert engine_config("torch").call_path == "graph"
    # the resolved value is what the record stores
    dumped = engine_config("torch", device="cuda:0").model_dump(mode="json")
    assert dumped["cuda_graph"] is True and dumped["call_path"] == "graph"


def test_a_recorded_config_without_the_new_settings_runs_as_it_ran():
    notes: list[str] = []
    old = config_from_record({"engine": "torch", "device": "cuda:0"}, "record x", notes)
    assert (old.cuda_graph, old.call_path) == (False, "module")
    new = config_from_record(
        {"engine": "torch", "device": "cuda:0", "cuda_graph": True, "call_path": "graph"}
    )
    assert (new.cuda_graph, new.call_path) == (True, "graph")
    assert FROM_RECORD == "from_record"


def test_cuda_graph_on_the_cpu_is_refused():
    from ecoscore.runners.engines.base import EngineError

    with pytest.raises(EngineError, match="cuda_graph"):
        make_engine("torch", "cpu", cuda_graph=True)
