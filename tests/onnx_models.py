"""Small ONNX models built with onnx.helper for tests (no torch needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def linear_classifier(
    path: Path,
    in_shape: tuple[int, ...] = (1, 8, 8),
    num_classes: int = 10,
    seed: int = 0,
    weights: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    nan_output: bool = False,
) -> Path:
    """input (batch, *in_shape) -> Flatten -> MatMul -> Add -> logits (batch, num_classes)."""
    features = int(np.prod(in_shape))
    rng = np.random.default_rng(seed)
    w = weights if weights is not None else rng.normal(size=(features, num_classes))
    b = bias if bias is not None else np.zeros(num_classes)
    if nan_output:
        b = np.full(num_classes, np.nan)
    inits = [
        numpy_helper.from_array(w.astype(np.float32), "W"),
        numpy_helper.from_array(b.astype(np.float32), "B"),
    ]
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "B"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *in_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", num_classes])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path


def looping_classifier(
    path: Path, trip_count: int = 2**62, in_shape: tuple[int, ...] = (1, 8, 8)
) -> Path:
    """``linear_classifier`` whose logits then go through an ONNX ``Loop`` of
    ``trip_count`` iterations that add zero: the same answers, after as long as one asks
    (the default never finishes)."""
    features = int(np.prod(in_shape))
    w = np.random.default_rng(0).normal(size=(features, 10)).astype(np.float32)
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["v_in", "zero"], ["v_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None),
        ],
        [numpy_helper.from_array(np.zeros(1, np.float32), "zero")],
    )
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], ["mm"]),
        helper.make_node("Loop", ["M", "cond"], ["logits"], body=body),
    ]
    nodes[2].input.append("mm")
    graph = helper.make_graph(
        nodes,
        "looping",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *in_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [
            numpy_helper.from_array(w, "W"),
            numpy_helper.from_array(np.array(trip_count, np.int64), "M"),
            numpy_helper.from_array(np.array(True), "cond"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path
