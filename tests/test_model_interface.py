"""Models as people export them, each built in the test and run on a tiny workload, or
refused with one line: torch.onnx.export with its defaults (a fixed batch of 1),
torch.export with a static batch (.pt2), skl2onnx (a classifier with probabilities, and
IsolationForest), an int8 model from onnxruntime's quantize_static (QDQ and QOperator, and
one whose input is int8), NHWC and NCHW models, several outputs and string outputs."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from ecoscore.benchmarks.registry import get_workload
from ecoscore.runners.benchmark import RunRequest, run_benchmark
from ecoscore.runners.engines.base import EngineError
from ecoscore.runners.engines.registry import engine_config, make_engine
from ecoscore.runners.host import describe_device
from ecoscore.runners.meters.codecarbon_estimate import CodeCarbonCpuEstimate
from ecoscore.runners.model_interface import resolve
from tests import tiny_data
from tests.onnx_models import linear_classifier

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tinyio")
    return {
        "tiny-ic": tiny_data.write_cifar(root / "ic"),
        "tiny-ad": tiny_data.write_toycar(root / "ad"),
    }


def run(workload: str, data: Path, model: Path, engine: str = "onnxruntime", **settings):
    req = RunRequest(
        workload=get_workload(workload, data),
        model_path=model,
        model_name=model.stem,
        model_role="user",
        engine_config=engine_config(engine, threads=1, **settings),
        meter=CodeCarbonCpuEstimate(),
        device=describe_device(),
        quick=True,
        repeats=1,
    )
    return run_benchmark(req)


def interface(workload: str, data: Path, model: Path, **declared):
    engine = make_engine("onnxruntime", threads=1)
    engine.load(model)
    return resolve(engine, get_workload(workload, data), model, **declared)


class SmallCnn(torch.nn.Module):
    """NCHW (batch, 3, 32, 32) -> 10 logits: what a torch user exports for tiny-ic."""

    def __init__(self, scale_inside: bool = True) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.scale = 1 / 255.0 if scale_inside else 1.0
        self.conv = torch.nn.Conv2d(3, 4, 3, stride=2)
        self.fc = torch.nn.Linear(4 * 15 * 15, 10)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv(x * self.scale)), 1))


def _quiet_export(*args, **kwargs) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(*args, **kwargs)


# -- torch exports --------------------------------------------------------------------------


def test_torch_onnx_export_default_runs_at_batch_1_and_says_so(data, tmp_path):
    path = tmp_path / "default.onnx"
    _quiet_export(SmallCnn().eval(), (torch.zeros(1, 3, 32, 32),), str(path))  # all defaults
    rec = run("tiny-ic", data["tiny-ic"], path)
    off = rec.scenario("offline")
    assert off.batch_size == 1 and "fixed batch of 1" in off.batch_note
    assert all(w.inferences == w.queries for w in off.windows)
    assert rec.quality.batch_size == 1
    choices = rec.engine.settings["model_interface"]
    assert choices["layout"].startswith("NCHW") and "fixed at 1" in choices["batch"]


def test_torch_export_static_batch_pt2_runs_in_the_torch_engine(data, tmp_path):
    model = SmallCnn().eval()
    path = tmp_path / "static.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 3, 32, 32),)), str(path))
    rec = run("tiny-ic", data["tiny-ic"], path, engine="torch")
    assert rec.engine.name == "torch" and rec.scenario("offline").batch_size == 1
    # same predictions as the module itself, fed NCHW by transposing the NHWC arrays
    ev = get_workload("tiny-ic", data["tiny-ic"]).eval_split()
    with torch.inference_mode():
        logits = model(torch.from_numpy(ev.x.transpose(0, 3, 1, 2).copy())).numpy()
    assert rec.quality.value == pytest.approx(float(np.mean(logits.argmax(1) == ev.y)))


def test_a_fixed_batch_other_than_1_is_refused(data, tmp_path):
    path = linear_classifier(tmp_path / "b4.onnx", in_shape=(32, 32, 3))
    proto = onnx.load(str(path))
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 4
    onnx.save(proto, str(path))
    with pytest.raises(EngineError, match="fixed at 4"):
        interface("tiny-ic", data["tiny-ic"], path)


# -- layouts --------------------------------------------------------------------------------


def test_nhwc_and_nchw_models_with_the_same_weights_agree(data, tmp_path):
    rng = np.random.default_rng(0)
    w_nhwc = rng.normal(size=(32 * 32 * 3, 10)) / 100
    # the same linear map on NCHW-flattened inputs: permute the weight rows
    idx = np.arange(32 * 32 * 3).reshape(32, 32, 3).transpose(2, 0, 1).reshape(-1)
    nhwc = linear_classifier(tmp_path / "nhwc.onnx", in_shape=(32, 32, 3), weights=w_nhwc)
    nchw = linear_classifier(tmp_path / "nchw.onnx", in_shape=(3, 32, 32), weights=w_nhwc[idx])
    a = run("tiny-ic", data["tiny-ic"], nhwc)
    b = run("tiny-ic", data["tiny-ic"], nchw)
    assert a.engine.settings["model_interface"]["layout"].startswith("NHWC")
    assert b.engine.settings["model_interface"]["layout"].startswith("NCHW")
    assert a.quality.value == b.quality.value


def test_a_shape_that_fits_both_layouts_needs_layout(data, tmp_path):
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", "a", "b", "c"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("Tile", ["m", "reps"], ["t"]),
        helper.make_node("Slice", ["t", "st", "en", "ax"], ["y"]),
    ]
    inits = [
        onnx.numpy_helper.from_array(np.array([1, 4], np.int64), "reps"),
        onnx.numpy_helper.from_array(np.array([0], np.int64), "st"),
        onnx.numpy_helper.from_array(np.array([10], np.int64), "en"),
        onnx.numpy_helper.from_array(np.array([1], np.int64), "ax"),
    ]
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    path = tmp_path / "dyn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(EngineError, match="fits both NCHW and NHWC; declare it with --layout"):
        interface("tiny-ic", data["tiny-ic"], path)
    iface = interface("tiny-ic", data["tiny-ic"], path, layout="NCHW")
    assert iface.transpose == (0, 3, 1, 2) and "declared" in iface.choices["layout"]
    rec = run("tiny-ic", data["tiny-ic"], path, layout="NCHW")
    assert rec.engine.config["layout"] == "NCHW"  # recorded: reproduce uses it
    from ecoscore.jury.replicate import engine_config

    assert engine_config(rec).layout == "NCHW"


def test_declared_layout_that_does_not_fit_and_layout_on_a_non_image(data, tmp_path):
    nhwc = linear_classifier(tmp_path / "nhwc.onnx", in_shape=(32, 32, 3))
    with pytest.raises(EngineError, match=r"is not NCHW \(batch, 3, 32, 32\)"):
        interface("tiny-ic", data["tiny-ic"], nhwc, layout="NCHW")
    ad = linear_classifier(tmp_path / "ad.onnx", in_shape=(640,), num_classes=1)
    with pytest.raises(EngineError, match="not an image"):
        interface("tiny-ad", data["tiny-ad"], ad, layout="NHWC")


def test_a_flat_input_gets_the_same_values_flattened(data, tmp_path):
    flat = linear_classifier(tmp_path / "flat.onnx", in_shape=(3072,))
    iface = interface("tiny-ic", data["tiny-ic"], flat)
    x = get_workload("tiny-ic", data["tiny-ic"]).eval_split().x
    np.testing.assert_array_equal(iface.adapt_input(x), x.reshape(len(x), -1))
    assert "NHWC order" in iface.choices["reshape"]
    nchw_order = interface("tiny-ic", data["tiny-ic"], flat, layout="NCHW").adapt_input(x)
    np.testing.assert_array_equal(nchw_order, x.transpose(0, 3, 1, 2).reshape(len(x), -1))


# -- scikit-learn ---------------------------------------------------------------------------


def _cifar_features(data: Path) -> tuple[np.ndarray, np.ndarray]:
    wl = get_workload("tiny-ic", data)
    tr = wl.train_split()
    return tr.x.reshape(len(tr), -1), tr.y


def test_skl2onnx_classifier_probabilities_are_read(data, tmp_path):
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x, y = _cifar_features(data["tiny-ic"])
    clf = LogisticRegression(max_iter=200).fit(x, y)
    path = tmp_path / "logreg.onnx"
    opts = {id(clf): {"zipmap": False}}
    path.write_bytes(to_onnx(clf, x[:1].astype(np.float32), options=opts).SerializeToString())
    rec = run("tiny-ic", data["tiny-ic"], path)
    assert rec.engine.settings["model_interface"]["output"].startswith("probabilities, the only")
    assert "reshape" in rec.engine.settings["model_interface"]  # (N, 3072) in NHWC order
    ev = get_workload("tiny-ic", data["tiny-ic"]).eval_split()
    expected = clf.predict(ev.x.reshape(len(ev), -1))
    assert rec.quality.value == pytest.approx(float(np.mean(expected == ev.y)))


def test_skl2onnx_zipmap_and_string_labels_are_refused_in_one_line(data, tmp_path):
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x, y = _cifar_features(data["tiny-ic"])
    x = x.astype(np.float32)
    clf = LogisticRegression(max_iter=50).fit(x / 255.0, y)
    zipmap = tmp_path / "zipmap.onnx"
    zipmap.write_bytes(to_onnx(clf, x[:1]).SerializeToString())
    with pytest.raises(EngineError) as err:
        interface("tiny-ic", data["tiny-ic"], zipmap)
    msg = str(err.value)
    assert "\n" not in msg and "output_label int64" in msg and "zipmap" in msg
    names = np.array(["airplane", "automobile", "bird", "cat", "deer"] * 2)[y]
    # string labels beside probabilities: the probabilities are read ...
    named = LogisticRegression(max_iter=50).fit(x / 255.0, names)
    both = tmp_path / "named.onnx"
    opts = {id(named): {"zipmap": False}}
    both.write_bytes(to_onnx(named, x[:1], options=opts).SerializeToString())
    with pytest.raises(EngineError, match="output 'label' holds strings"):
        interface("tiny-ic", data["tiny-ic"], both, output="label")
    # ... and a model whose only output is the string label is refused
    proto = onnx.load(str(both))
    keep = [o for o in proto.graph.output if o.name == "label"]
    del proto.graph.output[:]
    proto.graph.output.extend(keep)
    only = tmp_path / "only_label.onnx"
    onnx.save(proto, str(only))
    with pytest.raises(EngineError) as err:
        interface("tiny-ic", data["tiny-ic"], only)
    assert "holds strings" in str(err.value) and "\n" not in str(err.value)


def test_skl2onnx_isolation_forest_scores_are_read_and_negated(data, tmp_path):
    from skl2onnx import to_onnx
    from sklearn.ensemble import IsolationForest

    wl = get_workload("tiny-ad", data["tiny-ad"])
    x = wl.train_split().x.astype(np.float32)
    forest = IsolationForest(n_estimators=20, random_state=0).fit(x)
    path = tmp_path / "forest.onnx"
    onx = to_onnx(forest, x[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())
    rec = run("tiny-ad", data["tiny-ad"], path)
    choices = rec.engine.settings["model_interface"]
    assert choices["output"].startswith("scores, the only one of 2 outputs")
    assert "decision_function" in choices["output_sign"]
    ev = wl.eval_split()
    expected = wl.score(-forest.decision_function(ev.x), ev.y)
    assert rec.quality.value == pytest.approx(expected, abs=1e-9)
    # the label output (+1/-1) is never taken as a score
    with pytest.raises(EngineError, match="output 'label' is int64"):
        interface("tiny-ad", data["tiny-ad"], path, output="label")


def test_several_possible_outputs_need_output(data, tmp_path):
    path = linear_classifier(tmp_path / "two.onnx", in_shape=(32, 32, 3))
    proto = onnx.load(str(path))
    proto.graph.node.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=1))
    proto.graph.output.append(
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 10])
    )
    onnx.save(proto, str(path))
    with pytest.raises(EngineError) as err:
        interface("tiny-ic", data["tiny-ic"], path)
    msg = str(err.value)
    assert "several outputs" in msg and "logits float32" in msg and "probs float32" in msg
    assert "--output NAME" in msg
    rec = run("tiny-ic", data["tiny-ic"], path, output="probs")
    assert rec.engine.config["output"] == "probs"
    assert rec.engine.settings["model_interface"]["output"] == "probs, declared (--output)"


# -- int8 -----------------------------------------------------------------------------------


def _float_cnn(tmp_path: Path) -> Path:
    path = tmp_path / "cnn.onnx"
    batch = torch.export.Dim("batch", min=1, max=1024)
    _quiet_export(
        SmallCnn(scale_inside=False).eval(),  # the input goes straight into the first conv
        (torch.zeros(2, 3, 32, 32),),
        str(path),
        input_names=["input"],
        dynamic_shapes=({0: batch},),
        dynamo=True,
    )
    return path


def _quantize(src: Path, dst: Path, data: Path, fmt: str) -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    x = get_workload("tiny-ic", data).train_split().x.transpose(0, 3, 1, 2).copy()

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter({"input": x[i : i + 1]} for i in range(16))

        def get_next(self):
            return next(self.items, None)

    quantize_static(
        str(src),
        str(dst),
        Reader(),
        quant_format=QuantFormat.QDQ if fmt == "QDQ" else QuantFormat.QOperator,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    return dst


@pytest.fixture(scope="module")
def int8_models(data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("int8")
    fp32 = _float_cnn(tmp)
    return {
        "fp32": fp32,
        "QDQ": _quantize(fp32, tmp / "qdq.onnx", data["tiny-ic"], "QDQ"),
        "QOperator": _quantize(fp32, tmp / "qop.onnx", data["tiny-ic"], "QOperator"),
    }


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_quantize_static_models_run_and_are_recorded_as_int8(fmt, data, int8_models):
    rec = run("tiny-ic", data["tiny-ic"], int8_models[fmt])
    assert rec.engine.precision == "int8"
    assert rec.engine.settings["model_quantization"] == f"{fmt} int8+uint8"
    inside = rec.engine.settings["model_interface"]["input_quantized_in_graph"]
    assert inside["scale"] > 0 and inside["dtype"] == "uint8"
    fp32 = run("tiny-ic", data["tiny-ic"], int8_models["fp32"])
    assert abs(rec.quality.value - fp32.quality.value) <= 0.1


def _with_quantized_input(src: Path, dst: Path) -> Path:
    """The QDQ model with its input QuantizeLinear removed: its input is uint8, as in
    models converted from an int8 TFLite file."""
    proto = onnx.load(str(src))
    q = next(n for n in proto.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "input")
    for node in proto.graph.node:
        for i, name in enumerate(node.input):
            if name == q.output[0]:
                node.input[i] = "input"
    proto.graph.node.remove(q)
    proto.graph.input[0].type.tensor_type.elem_type = TensorProto.UINT8
    onnx.save(proto, str(dst))
    return dst


def test_an_int8_input_is_quantized_with_the_models_own_scale(data, int8_models, tmp_path):
    path = _with_quantized_input(int8_models["QDQ"], tmp_path / "u8in.onnx")
    iface = interface("tiny-ic", data["tiny-ic"], path)
    q = iface.input_quant
    assert q is not None and q.dtype == "uint8" and "DequantizeLinear" in q.where
    x = get_workload("tiny-ic", data["tiny-ic"]).eval_split().x
    fed = iface.adapt_input(x)
    assert fed.dtype == np.uint8 and fed.shape == (len(x), 3, 32, 32)
    expected = np.clip(np.rint(x.transpose(0, 3, 1, 2) / q.scale) + q.zero_point, 0, 255)
    np.testing.assert_array_equal(fed, expected.astype(np.uint8))
    a = run("tiny-ic", data["tiny-ic"], path)
    b = run("tiny-ic", data["tiny-ic"], int8_models["QDQ"])
    assert a.quality.value == b.quality.value  # the graph quantized the same way before
    assert a.engine.settings["model_interface"]["input_quantization"]["dtype"] == "uint8"


def test_an_int8_output_is_dequantized_with_the_models_own_scale(data, int8_models, tmp_path):
    proto = onnx.load(str(int8_models["QDQ"]))
    out = proto.graph.output[0].name
    dq = next(n for n in proto.graph.node if n.op_type == "DequantizeLinear" and n.output[0] == out)
    proto.graph.node.remove(dq)
    for node in proto.graph.node:
        for i, name in enumerate(node.output):
            if name == dq.input[0]:
                node.output[i] = out
    proto.graph.output[0].type.tensor_type.elem_type = TensorProto.UINT8
    path = tmp_path / "u8out.onnx"
    onnx.save(proto, str(path))
    rec = run("tiny-ic", data["tiny-ic"], path)
    deq = rec.engine.settings["model_interface"]["output_dequantization"]
    assert deq["scale"] > 0 and "QuantizeLinear" in deq["read_from"]
    base = run("tiny-ic", data["tiny-ic"], int8_models["QDQ"])
    assert rec.quality.value == base.quality.value


def test_an_int8_input_without_a_readable_scale_is_refused(data, tmp_path):
    x = helper.make_tensor_value_info("input", TensorProto.INT8, ["n", 32, 32, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])
    nodes = [
        helper.make_node("Cast", ["input"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Flatten", ["f"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["y"]),
    ]
    w = onnx.numpy_helper.from_array(np.zeros((3072, 10), np.float32), "W")
    path = tmp_path / "cast.onnx"
    graph = helper.make_graph(nodes, "g", [x], [y], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(EngineError, match="scale and zero point cannot be read"):
        interface("tiny-ic", data["tiny-ic"], path)


def test_reproduce_reads_the_output_from_the_recorded_config(tmp_path):
    """A two-output model on a bundled workload: --output is recorded in the engine's
    config and ``ecoscore reproduce`` runs the model the same way."""
    from typer.testing import CliRunner

    from ecoscore.cli import app
    from ecoscore.record import load_record

    path = linear_classifier(tmp_path / "two.onnx")
    proto = onnx.load(str(path))
    proto.graph.node.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=1))
    proto.graph.output.append(
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 10])
    )
    onnx.save(proto, str(path))
    out = tmp_path / "o"
    args = ["run", "-w", "vision-digits", "--model", str(path), "--output", "probs", "--quick"]
    res = CliRunner().invoke(
        app, [*args, "--repeats", "1", "--meter", "estimate", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    (rec_path,) = (out / "runs").glob("*.json")
    again = tmp_path / "again"
    res = CliRunner().invoke(
        app, ["reproduce", str(rec_path), "--model", str(path), "--out", str(again)]
    )
    assert res.exit_code in (0, 8), res.output  # replicated or not: the point is the output
    (rep,) = (again / "runs").glob("*.json")
    replication = load_record(rep)
    assert replication.engine.config["output"] == "probs"
    assert replication.engine.settings["model_interface"]["output"] == "probs, declared (--output)"
