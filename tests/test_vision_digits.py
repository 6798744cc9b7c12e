"""vision-digits: the split, the checksum, and the committed reference and baseline models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ecoscore.benchmarks.vision_digits as vd
from ecoscore.benchmarks.base import array_sha256
from ecoscore.benchmarks.errors import DataChecksumError
from ecoscore.benchmarks.registry import get_workload
from ecoscore.models.registry import reference_model, reference_models
from ecoscore.runners.engines.base import Engine
from ecoscore.runners.engines.registry import make_engine
from ecoscore.runners.model_files import onnx_parameter_count


@pytest.fixture(scope="module")
def workload() -> vd.VisionDigits:
    wl = get_workload("vision-digits")
    assert isinstance(wl, vd.VisionDigits)
    return wl


def test_info(workload: vd.VisionDigits) -> None:
    info = workload.info
    assert (info.name, info.version, info.family, info.task) == (
        "vision-digits",
        "1.0",
        "vision",
        "classification",
    )
    assert info.input.name == "input" and info.input.shape == (None, 1, 8, 8)
    assert info.class_names == tuple("0123456789") and info.num_classes == 10
    assert info.quality_gate == 0.95 and "0.95" in info.gate_rationale
    assert workload.data_source == "bundled"


def test_split_is_deterministic_disjoint_and_stratified() -> None:
    _, labels = vd.load_raw_digits()
    train_a, eval_a = vd.stratified_split(labels, vd.EVAL_FRACTION, vd.SPLIT_SEED)
    train_b, eval_b = vd.stratified_split(labels, vd.EVAL_FRACTION, vd.SPLIT_SEED)
    np.testing.assert_array_equal(train_a, train_b)
    np.testing.assert_array_equal(eval_a, eval_b)
    assert np.intersect1d(train_a, eval_a).size == 0
    assert train_a.size + eval_a.size == labels.size == 1797
    assert eval_a.size == 539
    per_class = np.bincount(labels, minlength=10)
    eval_per_class = np.bincount(labels[eval_a], minlength=10)
    np.testing.assert_array_equal(eval_per_class, np.round(0.3 * per_class).astype(int))
    _, eval_other = vd.stratified_split(labels, vd.EVAL_FRACTION, vd.SPLIT_SEED + 1)
    assert not np.array_equal(eval_a, eval_other)


def test_preprocessing(workload: vd.VisionDigits) -> None:
    train, ev = workload.train_split(), workload.eval_split()
    assert train.x.shape == (1258, 1, 8, 8) and ev.x.shape == (539, 1, 8, 8)
    assert train.x.dtype == np.float32 and ev.y.dtype == np.int64
    assert float(ev.x.min()) == 0.0 and float(ev.x.max()) == 1.0
    # every value is a whole number of sixteenths
    np.testing.assert_array_equal(ev.x * 16, np.round(ev.x * 16))


def test_checksum_constant_matches(workload: vd.VisionDigits) -> None:
    assert workload.eval_data_sha256() == workload.info.eval_sha256 == vd.EVAL_SHA256
    images, labels = vd.load_raw_digits()
    _, eval_idx = vd.stratified_split(labels, vd.EVAL_FRACTION, vd.SPLIT_SEED)
    assert array_sha256(images[eval_idx], labels[eval_idx]) == vd.EVAL_SHA256


def test_tampered_eval_data_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    images, labels = vd.load_raw_digits()
    _, eval_idx = vd.stratified_split(labels, vd.EVAL_FRACTION, vd.SPLIT_SEED)
    tampered = images.copy()
    tampered[eval_idx[0], 3, 3] = (tampered[eval_idx[0], 3, 3] + 1) % 17
    monkeypatch.setattr(vd, "load_raw_digits", lambda: (tampered, labels))
    with pytest.raises(DataChecksumError, match="vision-digits"):
        vd.VisionDigits().eval_split()


def test_tampered_labels_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    images, labels = vd.load_raw_digits()
    _, eval_idx = vd.stratified_split(labels, vd.EVAL_FRACTION, vd.SPLIT_SEED)
    relabelled = labels.copy()
    relabelled[eval_idx[-1]] = (relabelled[eval_idx[-1]] + 1) % 10
    monkeypatch.setattr(vd, "load_raw_digits", lambda: (images, relabelled))
    with pytest.raises(DataChecksumError):
        vd.VisionDigits().eval_split()


def _accuracy(engine: Engine, path: Path, workload: vd.VisionDigits) -> float:
    engine.load(path)
    ev = workload.eval_split()
    outputs = np.concatenate([engine.run(ev.x[i : i + 64]) for i in range(0, len(ev), 64)])
    assert outputs.shape == (len(ev), 10)
    one = engine.run(ev.x[:1])  # batch 1 goes through the dynamic batch dimension too
    np.testing.assert_allclose(one, outputs[:1], rtol=1e-4, atol=1e-5)
    return workload.score(outputs, ev.y)


@pytest.mark.parametrize("role", ["reference", "baseline"])
def test_models_through_both_engines(role: str, workload: vd.VisionDigits) -> None:
    pytest.importorskip("torch", reason="the torch engine needs PyTorch")

    model = reference_model("vision-digits", role)
    acc_ort = _accuracy(make_engine("onnxruntime", threads=1), model.file("onnx"), workload)
    torch_engine = make_engine("torch")
    acc_torch = _accuracy(torch_engine, model.file("pt2"), workload)
    assert abs(acc_ort - acc_torch) <= 0.005
    assert acc_ort == pytest.approx(model.eval_quality["accuracy"], abs=1e-9)
    assert torch_engine.parameter_count == model.parameter_count
    assert onnx_parameter_count(model.file("onnx")) == model.parameter_count
    if role == "reference":
        assert acc_ort >= workload.info.quality_gate
        assert acc_torch >= workload.info.quality_gate
        assert acc_ort > reference_model("vision-digits", "baseline").eval_quality["accuracy"]
    else:
        assert acc_ort > 0.9  # a linear model on digits, well above chance


def test_manifest_and_files() -> None:
    models = reference_models("vision-digits")
    assert sorted(m.role for m in models) == ["baseline", "reference"]
    counts = {m.name: m.parameter_count for m in models}
    # digits-cnn: 16*9+16 + 32*16*9+32 + 512*64+64 + 64*10+10; logreg: 64*10+10
    assert counts == {"digits-cnn": 38282, "digits-logreg": 650}
    for m in models:
        assert set(m.files) == {"onnx", "pt2"}
        for path in m.files.values():
            assert path.is_file() and 0 < path.stat().st_size < 2 * 1024**2


def test_onnx_files_have_dynamic_batch_and_one_output() -> None:
    import onnx

    for m in reference_models("vision-digits"):
        proto = onnx.load(str(m.file("onnx")))
        (inp,) = proto.graph.input
        (out,) = proto.graph.output
        assert inp.name == "input"
        dims = inp.type.tensor_type.shape.dim
        assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 8, 8]
        assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
        assert out.type.tensor_type.shape.dim[1].dim_value == 10


@pytest.mark.slow
def test_recipe_reproduces_the_committed_models(tmp_path: Path) -> None:
    """Re-run the training recipe: same parameter counts and (within half a point) the
    same eval accuracy as the committed manifest."""
    import json

    pytest.importorskip("torch", reason="the training recipe needs PyTorch")
    from ecoscore.models.vision_digits import train

    train.main(["--out", str(tmp_path)])
    fresh = {m["name"]: m for m in json.loads((tmp_path / "manifest.json").read_text())["models"]}
    for m in reference_models("vision-digits"):
        assert fresh[m.name]["parameter_count"] == m.parameter_count
        acc = fresh[m.name]["eval_quality"]["accuracy"]
        assert abs(acc - m.eval_quality["accuracy"]) <= 0.005
    assert (tmp_path / "CARD.md").is_file()
