"""The native TensorRT engine.

The pure parts (cache key, cache writes, calibration batching) and the "not installed" /
"no GPU" errors are tested everywhere. Building and running engines needs TensorRT 10 and an
NVIDIA GPU: those tests skip with a reason elsewhere.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from ecoscore.files import write_atomic
from ecoscore.runners.engines.base import EngineError, EngineUnavailable, LoadHints
from ecoscore.runners.engines.registry import make_engine
from ecoscore.runners.engines.tensorrt_engine import (
    INSTALL_HINT,
    CalibrationFeeder,
    _network_input,
    _parser_error_text,
    calibration_batch_size,
    calibration_batches,
    calibration_sample_count,
    engine_cache_key,
    engine_file_name,
    load_or_build_plan,
)
from tests.onnx_models import linear_classifier

BASE = {
    "model_sha256": "a" * 64,
    "trt_version": "10.3.0",
    "gpu_name": "NVIDIA H100 80GB HBM3",
    "compute_capability": "9.0",
    "precision": "fp16",
    "max_batch": 64,
}

# ---------------------------------------------------------------------------------------
# Cache key and cache files (no TensorRT needed)
# ---------------------------------------------------------------------------------------


def test_cache_key_is_a_stable_sha256():
    k1 = engine_cache_key(**BASE)
    k2 = engine_cache_key(**dict(BASE))
    assert k1 == k2
    assert len(k1) == 64 and int(k1, 16) >= 0


@pytest.mark.parametrize(
    "field,other",
    [
        ("model_sha256", "b" * 64),
        ("trt_version", "10.4.0"),
        ("gpu_name", "NVIDIA A100-SXM4-40GB"),
        ("compute_capability", "8.0"),
        ("precision", "fp32"),
        ("max_batch", 32),
    ],
)
def test_cache_key_changes_with_each_input(field, other):
    assert engine_cache_key(**{**BASE, field: other}) != engine_cache_key(**BASE)


def test_int8_key_needs_and_depends_on_the_calibration_data():
    int8 = {**BASE, "precision": "int8"}
    with pytest.raises(ValueError, match="calibration"):
        engine_cache_key(**int8)
    k1 = engine_cache_key(**int8, calibration_sha256="1" * 64)
    k2 = engine_cache_key(**int8, calibration_sha256="2" * 64)
    assert k1 != k2
    assert k1 != engine_cache_key(**BASE)


def test_calibration_hash_is_ignored_outside_int8_and_tf32_outside_fp32():
    assert engine_cache_key(**BASE, calibration_sha256="1" * 64) == engine_cache_key(**BASE)
    assert engine_cache_key(**BASE, tf32=True) == engine_cache_key(**BASE)
    fp32 = {**BASE, "precision": "fp32"}
    assert engine_cache_key(**fp32, tf32=True) != engine_cache_key(**fp32, tf32=False)


def test_cache_key_refuses_unknown_precision():
    with pytest.raises(ValueError, match="precision"):
        engine_cache_key(**{**BASE, "precision": "bf16"})


def test_engine_file_name_is_a_plain_file_name():
    key = engine_cache_key(**BASE)
    name = engine_file_name(key, "fp16", 64)
    assert name == f"fp16-b64-{key}.engine"
    assert "/" not in name and " " not in name


def test_write_atomic_replaces_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "sub" / "x.engine"
    write_atomic(target, b"first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.engine"]


def test_load_or_build_builds_once_then_reuses(tmp_path):
    calls: list[int] = []

    def build() -> bytes:
        calls.append(1)
        return b"plan-bytes"

    path = tmp_path / "fp16-b8-k.engine"
    first = load_or_build_plan(path, build)
    assert (first.cache_hit, first.plan, len(calls)) == (False, b"plan-bytes", 1)
    assert first.build_seconds is not None and first.build_seconds >= 0
    meta = json.loads((tmp_path / "fp16-b8-k.engine.json").read_text())
    assert meta["bytes"] == len(b"plan-bytes")

    second = load_or_build_plan(path, build)
    assert (second.cache_hit, second.plan, len(calls)) == (True, b"plan-bytes", 1)
    assert second.build_seconds == pytest.approx(meta["build_seconds"])


def test_load_or_build_without_cache_always_builds_and_writes_nothing(tmp_path):
    path = tmp_path / "e.engine"
    for _ in range(2):
        got = load_or_build_plan(path, lambda: b"p", use_cache=False)
        assert not got.cache_hit
    assert list(tmp_path.iterdir()) == []


def test_a_failed_build_leaves_no_cache_entry(tmp_path):
    def build() -> bytes:
        raise EngineError("parse failed")

    with pytest.raises(EngineError):
        load_or_build_plan(tmp_path / "e.engine", build)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------
# Calibration batching (no TensorRT needed)
# ---------------------------------------------------------------------------------------


def test_calibration_batches_are_full_contiguous_float32():
    data = np.arange(10 * 3, dtype=np.float64).reshape(10, 3)
    batches = list(calibration_batches(data, 4))
    assert [b.shape for b in batches] == [(4, 3), (4, 3)]  # the remainder of 2 is left out
    assert all(b.dtype == np.float32 and b.flags["C_CONTIGUOUS"] for b in batches)
    np.testing.assert_array_equal(batches[1], data[4:8].astype(np.float32))


def test_calibration_batch_size_and_sample_count():
    assert calibration_batch_size(500, 64) == 64
    assert calibration_sample_count(500, 64) == 448
    assert calibration_batch_size(20, 64) == 20  # a small set is one batch
    assert calibration_sample_count(20, 64) == 20
    with pytest.raises(ValueError, match="empty"):
        calibration_batch_size(0, 64)


def test_calibration_feeder_hands_out_every_full_batch_once():
    data = np.random.default_rng(0).normal(size=(70, 1, 8, 8))
    feeder = CalibrationFeeder(data, max_batch=32)
    assert feeder.batch_size == 32 and feeder.sample_shape == (1, 8, 8)
    got = []
    while (b := feeder.next_batch()) is not None:
        got.append(b)
    assert len(got) == 2 and feeder.samples_fed == 64
    assert feeder.next_batch() is None


def test_calibration_feeder_keeps_an_integer_input_dtype():
    tokens = np.arange(12 * 5).reshape(12, 5)  # token ids for an int64 model input
    feeder = CalibrationFeeder(tokens, max_batch=4, dtype=np.int64)
    batch = feeder.next_batch()
    assert batch is not None and batch.dtype == np.int64
    np.testing.assert_array_equal(batch, tokens[:4])


def test_calibration_feeder_refuses_empty_data():
    with pytest.raises(ValueError, match="empty"):
        CalibrationFeeder(np.zeros((0, 4)), max_batch=8)


# ---------------------------------------------------------------------------------------
# Network checks and parser messages, on small stand-ins for TensorRT's objects
# ---------------------------------------------------------------------------------------


class _Tensor:
    def __init__(self, name: str, shape: tuple[int, ...]):
        self.name, self.shape = name, shape


class _Network:
    def __init__(self, *inputs: _Tensor):
        self._inputs = inputs
        self.num_inputs = len(inputs)

    def get_input(self, i: int) -> _Tensor:
        return self._inputs[i]


def test_network_input_needs_one_input_with_a_dynamic_batch():
    model = Path("m.onnx")
    assert _network_input(_Network(_Tensor("x", (-1, 1, 8, 8))), model) == ("x", (1, 8, 8))
    with pytest.raises(EngineError, match=r"m\.onnx.*dynamic batch"):
        _network_input(_Network(_Tensor("x", (4, 16))), model)
    with pytest.raises(EngineError, match=r"m\.onnx.*only the batch"):
        _network_input(_Network(_Tensor("x", (-1, -1))), model)
    with pytest.raises(EngineError, match=r"m\.onnx.*2 inputs"):
        _network_input(_Network(_Tensor("a", (-1, 2)), _Tensor("b", (-1, 2))), model)


class _ParserError:
    def node(self) -> int:
        return 3

    def node_operator(self) -> str:
        return "NonMaxSuppression"

    def node_name(self) -> str:
        return "nms_0"

    def desc(self) -> str:
        return "unsupported operator"


def test_parser_error_text_names_node_operator_and_problem():
    text = _parser_error_text(_ParserError())
    assert text == "node 3 (NonMaxSuppression 'nms_0'): unsupported operator"


# ---------------------------------------------------------------------------------------
# Errors when TensorRT or the GPU is absent
# ---------------------------------------------------------------------------------------


def test_make_engine_without_tensorrt_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` fail
    with pytest.raises(EngineUnavailable) as err:
        make_engine("tensorrt", device="cuda")
    assert str(err.value) == INSTALL_HINT
    assert "pip install tensorrt" in str(err.value)
    with pytest.raises(EngineUnavailable, match="pip install tensorrt"):
        make_engine("tensorrt")


def test_tensorrt_older_than_10_is_refused(monkeypatch):
    fake = types.ModuleType("tensorrt")
    fake.__version__ = "8.6.1"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    with pytest.raises(EngineUnavailable, match="TensorRT 10 or later.*8.6.1"):
        make_engine("tensorrt", device="cuda")


def test_tensorrt_without_a_cuda_torch_is_unavailable(monkeypatch):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU; the no-GPU error cannot be shown here")
    fake = types.ModuleType("tensorrt")
    fake.__version__ = "10.3.0"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    with pytest.raises(EngineUnavailable, match="sees no GPU"):
        make_engine("tensorrt", device="cuda")


# ---------------------------------------------------------------------------------------
# On a GPU with TensorRT 10
# ---------------------------------------------------------------------------------------


def _gpu_tensorrt() -> None:
    if importlib.util.find_spec("tensorrt") is None:
        pytest.skip("tensorrt is not installed (pip install tensorrt; needs an NVIDIA GPU)")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible to torch")
    import tensorrt as trt

    if not hasattr(trt.BuilderFlag, "FP16"):
        pytest.skip(f"TensorRT {trt.__version__} has no weakly typed fp16/int8 (TensorRT 11+)")


IN_SHAPE = (1, 8, 8)


@pytest.fixture
def onnx_model(tmp_path: Path) -> Path:
    return linear_classifier(tmp_path / "linear.onnx", IN_SHAPE, num_classes=10)


def _reference(path: Path, x: np.ndarray) -> np.ndarray:
    from ecoscore.runners.engines.registry import make_engine

    ort = make_engine("onnxruntime", threads=1)
    ort.load(path)
    return ort.run(x)


def _inputs(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, *IN_SHAPE)).astype(np.float32)


@pytest.mark.gpu
def test_fp16_engine_matches_onnxruntime_and_reuses_its_cache(onnx_model, tmp_path):
    _gpu_tensorrt()
    cache = tmp_path / "cache"
    x = _inputs(40)
    want = _reference(onnx_model, x)
    scale = float(np.abs(want).max())

    eng = make_engine("tensorrt", "cuda", precision="fp16", cache_dir=str(cache))
    eng.load(onnx_model, LoadHints(max_batch=16))
    got = eng.run(x)  # 40 rows: three calls of at most 16
    assert got.shape == (40, 10) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-2 * scale)
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.95
    first = eng.info()
    assert first.name == "tensorrt" and first.precision == "fp16"
    assert first.settings["engine_cache_hit"] is False
    assert first.settings["max_batch"] == 16 and first.settings["build_seconds"] > 0
    assert len(list(cache.glob("*.engine"))) == 1
    assert eng.input_meta() == ("input", ["batch", *IN_SHAPE], "tensor(float)")
    eng.close()

    again = make_engine("tensorrt", "cuda", precision="fp16", cache_dir=str(cache))
    again.load(onnx_model, LoadHints(max_batch=16))
    second = again.info()
    assert second.settings["engine_cache_hit"] is True
    assert second.settings["engine_cache_key"] == first.settings["engine_cache_key"]
    assert second.settings["build_seconds"] == pytest.approx(first.settings["build_seconds"])
    np.testing.assert_allclose(again.run(x), got, rtol=0, atol=1e-6 * scale)
    again.close()


@pytest.mark.gpu
def test_prepared_batches_run_asynchronously_and_match_run(onnx_model, tmp_path):
    _gpu_tensorrt()
    eng = make_engine("tensorrt", "cuda", precision="fp32", cache_dir=str(tmp_path))
    eng.load(onnx_model, LoadHints(max_batch=8))
    assert eng.needs_sync
    x1, x8 = _inputs(1, seed=2), _inputs(8, seed=3)
    p1, p8 = eng.prepare(x1), eng.prepare(x8)
    out = eng.run_prepared(p8)
    eng.synchronize()
    want8 = _reference(onnx_model, x8)
    np.testing.assert_allclose(out[: 8 * 10].view(8, 10).cpu().numpy(), want8, atol=1e-3)
    eng.run_prepared(p1)  # shape switches between the profile's ends
    eng.synchronize()
    np.testing.assert_allclose(eng.run(x1), _reference(onnx_model, x1), atol=1e-3)
    assert eng.info().settings["tf32"] is False
    with pytest.raises(EngineError, match="outside the engine's profile"):
        eng.prepare(_inputs(9))
    eng.close()


@pytest.mark.gpu
def test_int8_engine_calibrates_and_caches_its_table(onnx_model, tmp_path):
    _gpu_tensorrt()
    import tensorrt as trt

    if not hasattr(trt, "IInt8EntropyCalibrator2"):
        pytest.skip(f"TensorRT {trt.__version__} has no implicit int8 calibration")
    calib = _inputs(96, seed=4)
    eng = make_engine("tensorrt", "cuda", precision="int8", cache_dir=str(tmp_path))
    eng.load(onnx_model, LoadHints(max_batch=32, calibration=lambda: calib))
    info = eng.info()
    assert info.precision == "int8"
    assert info.settings["calibration_samples"] == 96
    assert info.settings["builder_flags"] == ["INT8", "FP16"]
    assert len(list(tmp_path.glob("*.calib"))) == 1
    x = _inputs(64, seed=5)
    want = _reference(onnx_model, x)
    got = eng.run(x)
    assert got.shape == want.shape
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.8
    eng.close()


@pytest.mark.gpu
def test_int8_without_calibration_data_is_refused(onnx_model, tmp_path):
    _gpu_tensorrt()
    eng = make_engine("tensorrt", "cuda", precision="int8", cache_dir=str(tmp_path))
    with pytest.raises(EngineError, match="needs calibration inputs"):
        eng.load(onnx_model, LoadHints(max_batch=8))


@pytest.mark.gpu
def test_a_model_tensorrt_cannot_parse_is_named(tmp_path):
    _gpu_tensorrt()
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("NoSuchOp", ["input"], ["out"], domain="com.example")
    graph = helper.make_graph(
        [node],
        "bad",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 4])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    )
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    eng = make_engine("tensorrt", "cuda", cache_dir=str(tmp_path / "cache"))
    with pytest.raises(EngineError, match=r"bad\.onnx: the TensorRT ONNX parser rejected"):
        eng.load(path)
    assert not list((tmp_path / "cache").glob("*.engine"))
