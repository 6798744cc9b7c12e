"""Model files are untrusted input: every bad file gets an error naming it."""

import zipfile

import onnx
import pytest

from ecoscore.runners.engines.base import EngineError
from ecoscore.runners.engines.registry import make_engine
from ecoscore.runners.model_files import inspect_model, model_format
from tests.onnx_models import linear_classifier


def test_describe_good_model(tmp_path):
    path = linear_classifier(tmp_path / "m.onnx")
    d = inspect_model(path)
    assert d.format == "onnx"
    assert d.parameter_count == 64 * 10 + 10
    assert d.size_bytes == path.stat().st_size
    assert len(d.sha256) == 64


@pytest.mark.parametrize("name", ["model.pt", "model.pth", "weights.pkl"])
def test_pickles_are_refused(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(b"\x80\x04not really")
    with pytest.raises(EngineError, match="pickled torch files are refused"):
        model_format(p)


def test_missing_empty_truncated_onnx(tmp_path):
    with pytest.raises(EngineError, match="not found"):
        inspect_model(tmp_path / "absent.onnx")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(EngineError, match="empty"):
        inspect_model(empty)
    good = linear_classifier(tmp_path / "good.onnx")
    trunc = tmp_path / "trunc.onnx"
    trunc.write_bytes(good.read_bytes()[:100])
    with pytest.raises(EngineError, match="trunc.onnx: not a valid ONNX model"):
        make_engine("onnxruntime").load(trunc)


def test_external_data_outside_folder_is_refused(tmp_path):
    sub = tmp_path / "model"
    sub.mkdir()
    path = linear_classifier(sub / "m.onnx")
    proto = onnx.load(str(path))
    w = next(t for t in proto.graph.initializer if t.name == "W")
    w.ClearField("raw_data")
    w.ClearField("float_data")
    w.data_location = onnx.TensorProto.EXTERNAL
    entry = w.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    onnx.save(proto, str(path))
    with pytest.raises(EngineError, match="outside the model's folder"):
        inspect_model(path)


def test_corrupt_pt2(tmp_path):
    bad = tmp_path / "m.pt2"
    bad.write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(EngineError, match="m.pt2"):
        inspect_model(bad)
    z = tmp_path / "z.pt2"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("archive/data.pkl", b"x" * 100)
    raw = bytearray(z.read_bytes())
    raw[40] ^= 0xFF  # flip a byte inside the member: CRC fails
    z.write_bytes(bytes(raw))
    with pytest.raises(EngineError, match="z.pt2"):
        inspect_model(z)


def test_unknown_format(tmp_path):
    p = tmp_path / "m.tflite"
    p.write_bytes(b"x")
    with pytest.raises(EngineError, match="unknown model format"):
        model_format(p)
