"""GPU engines: on a CPU-only machine they refuse clearly; on a CUDA machine they agree with
the CPU engines on quality."""

import numpy as np
import pytest

from ecoscore.benchmarks.registry import get_workload
from ecoscore.models.registry import reference_model
from ecoscore.runners.benchmark import compute_quality
from ecoscore.runners.engines.base import EngineUnavailable
from ecoscore.runners.engines.registry import make_engine

torch = pytest.importorskip("torch", reason="the torch extra is not installed")
CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA GPU on this machine")


@pytest.mark.skipif(CUDA, reason="this machine has a GPU")
def test_torch_cuda_without_gpu_is_a_clear_refusal():
    with pytest.raises(EngineUnavailable, match="sees no GPU"):
        make_engine("torch", "cuda:0")


def test_onnxruntime_gpu_falls_back_to_cpu_with_a_recorded_reason():
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed here: no fallback to test")
    engine = make_engine("onnxruntime", "cuda:0")
    assert engine.fallback_reason and "install onnxruntime-gpu" in engine.fallback_reason
    engine.load(reference_model("vision-digits").file("onnx"))
    info = engine.info()
    assert info.device == "cpu"
    assert info.settings["provider_fallback_reason"] == engine.fallback_reason
    assert info.settings["execution_providers"] == ["CPUExecutionProvider"]


def test_gpu_probe_without_nvml_says_why():
    from ecoscore.runners.host import nvidia_gpu as describe_nvidia_gpu

    details = describe_nvidia_gpu(0)
    if "gpu_name" in details:
        pytest.skip("NVML answers on this machine")
    assert "gpu_probe" in details


@needs_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("workload", ["vision-digits", "nlp-intent", "anomaly-machine"])
@pytest.mark.parametrize(("precision", "tol"), [("fp32", 0.001), ("fp16", 0.005)])
def test_torch_cuda_quality_matches_the_cpu(workload, precision, tol):
    wl = get_workload(workload)
    split = wl.eval_split()
    ref = reference_model(workload)
    cpu = make_engine("onnxruntime", "cpu")
    cpu.load(ref.file("onnx"))
    gpu = make_engine("torch", "cuda:0", precision=precision)
    gpu.load(ref.file("pt2"))
    q_cpu = compute_quality(cpu, wl, split.x, split.y, 64)
    q_gpu = compute_quality(gpu, wl, split.x, split.y, 64)
    assert abs(q_cpu - q_gpu) <= tol
    info = gpu.info()
    assert info.precision == precision and info.device == "cuda:0"
    assert info.settings["peak_gpu_memory_bytes"] > 0


@needs_cuda
@pytest.mark.gpu
def test_cuda_graph_batch1_gives_the_same_output():
    ref = reference_model("vision-digits")
    x = get_workload("vision-digits").eval_split().x[:1]
    plain = make_engine("torch", "cuda:0", cuda_graph=False)
    plain.load(ref.file("pt2"))
    graphed = make_engine("torch", "cuda:0")  # on by default on CUDA
    graphed.load(ref.file("pt2"))
    out = graphed.run_prepared(graphed.prepare(x))
    graphed.synchronize()
    np.testing.assert_allclose(out.float().cpu().numpy(), plain.run(x), rtol=1e-4, atol=1e-5)
    info = graphed.info().settings
    assert info["cuda_graph_batch1"] is True and info["cuda_graph_captured"] is True
    assert graphed.fallback_reason is None
    assert plain.info().settings["cuda_graph_captured"] is False


@needs_cuda
@pytest.mark.gpu
def test_torch_cuda_graph_path_matches_module_path():
    ref = reference_model("vision-digits")
    x = get_workload("vision-digits").eval_split().x[:64]
    engines = [
        make_engine("torch", "cuda:0", call_path=p, cuda_graph=False) for p in ("graph", "module")
    ]
    for engine in engines:
        engine.load(ref.file("pt2"))
    assert engines[0].info().settings["call_path"] == "graph"
    np.testing.assert_allclose(engines[0].run(x), engines[1].run(x), rtol=1e-5, atol=1e-6)


@needs_cuda
@pytest.mark.gpu
def test_torch_cuda_empty_call_floor_runs_through_the_graph():
    from ecoscore.runners.empty_call import measure_empty_calls
    from ecoscore.runners.engines.registry import engine_config

    x = get_workload("vision-digits").eval_split().x
    floors = measure_empty_calls(
        engine_config("torch", device="cuda:0"), "pt2", x, {"single_stream": 1, "offline": 64}
    )
    for ec in floors.values():
        assert ec.unavailable_reason is None and ec.mean_call_s > 0
