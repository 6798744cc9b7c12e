"""What an ONNX graph says about its quantisation: the scale and zero point of an 8-bit input
or output, and whether (and how) the model is quantized.

Rules this module keeps:
- quantisation parameters are read from the graph only (initializers or Constant nodes
  feeding the node that quantizes or dequantizes the tensor), never guessed;
- an 8-bit input is read by a DequantizeLinear or by a QLinear* operator (QOperator
  format); an 8-bit output is written by a QuantizeLinear or a QLinear* operator, possibly
  through shape-only operators (Reshape, Flatten, Squeeze, ...); anything else gives None,
  and the caller refuses the model with one line;
- a float input that the graph quantizes itself (QDQ format) is reported, for the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecoscore.runners.engines.base import QuantParams

#: QLinear* operators: position of (scale, zero point) of their first input ...
_INPUT_PARAMS: dict[str, tuple[int, int]] = {
    "QLinearConv": (1, 2),
    "QLinearMatMul": (1, 2),
    "QLinearAdd": (1, 2),
    "QLinearMul": (1, 2),
    "QLinearAveragePool": (1, 2),
    "QLinearGlobalAveragePool": (1, 2),
    "QLinearSigmoid": (1, 2),
    "QLinearLeakyRelu": (1, 2),
    "QLinearSoftmax": (1, 2),
    "QGemm": (1, 2),
}
#: ... and of their output.
_OUTPUT_PARAMS: dict[str, tuple[int, int]] = {
    "QLinearConv": (6, 7),
    "QLinearMatMul": (6, 7),
    "QLinearAdd": (6, 7),
    "QLinearMul": (6, 7),
    "QLinearAveragePool": (3, 4),
    "QLinearGlobalAveragePool": (3, 4),
    "QLinearSigmoid": (3, 4),
    "QLinearLeakyRelu": (3, 4),
    "QLinearSoftmax": (3, 4),
    "QLinearConcat": (0, 1),
    "QGemm": (7, 8),
}
#: Operators that move 8-bit values without changing them (an output may come through them).
_PASS_THROUGH = {
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Identity",
    "MaxPool",
}
_QOPERATOR_OPS = set(_OUTPUT_PARAMS) | {"ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"}


@dataclass(frozen=True)
class Quantization:
    """How a model is quantized: "QDQ", "QOperator" or None, and the dtypes of its 8-bit
    tensors (e.g. ("int8", "uint8") for int8 weights and uint8 activations)."""

    format: str | None
    dtypes: tuple[str, ...] = ()

    def describe(self) -> str | None:
        return f"{self.format} {'+'.join(self.dtypes)}".strip() if self.format else None


class OnnxGraph:
    """The parts of an ONNX model needed to read its quantisation."""

    def __init__(self, path: Path) -> None:
        import onnx

        self.path = Path(path)
        # external data (large weights) is not read: only small scales and zero points are
        self.proto = onnx.load(str(path), load_external_data=False)
        g = self.proto.graph
        self._consts: dict[str, Any] = {t.name: t for t in g.initializer}
        for node in g.node:
            if node.op_type == "Constant" and node.output:
                value = next((a.t for a in node.attribute if a.name == "value"), None)
                if value is not None:
                    self._consts[node.output[0]] = value
        self._producer = {out: node for node in g.node for out in node.output}
        self._consumers: dict[str, list[Any]] = {}
        for node in g.node:
            for name in node.input:
                self._consumers.setdefault(name, []).append(node)

    def _value(self, name: str) -> np.ndarray | None:
        from onnx import numpy_helper

        tensor = self._consts.get(name)
        if tensor is None:
            return None
        return numpy_helper.to_array(tensor, base_dir=str(self.path.parent))

    def _params(self, node: Any, idx: tuple[int, int], default_dtype: str) -> QuantParams | None:
        s_idx, z_idx = idx
        if len(node.input) <= s_idx or not node.input[s_idx]:
            return None
        scale = self._value(node.input[s_idx])
        if scale is None or scale.size != 1:
            return None  # computed at run time, or per-channel: not an input/output's
        zero, dtype = 0, default_dtype
        if len(node.input) > z_idx and node.input[z_idx]:
            zp = self._value(node.input[z_idx])
            if zp is None or zp.size != 1:
                return None
            zero, dtype = int(zp.reshape(())), str(zp.dtype)
        where = f"{node.op_type} node {node.name or '(unnamed)'}"
        return QuantParams(float(scale.reshape(())), zero, dtype, where)

    def input_quantization(self, name: str) -> QuantParams | None:
        """Scale and zero point of graph input ``name``: read by the DequantizeLinear or
        QLinear* operators that consume an 8-bit input, or by the QuantizeLinear that
        quantizes a float input inside the graph. Consumers that disagree give None."""
        found: list[QuantParams] = []
        for node in self._consumers.get(name, []):
            if node.op_type in ("DequantizeLinear", "QuantizeLinear") and node.input[0] == name:
                p = self._params(node, (1, 2), "uint8")
            elif node.op_type in _INPUT_PARAMS and node.input[0] == name:
                p = self._params(node, _INPUT_PARAMS[node.op_type], "uint8")
            else:
                continue
            if p is not None:
                found.append(p)
        if not found or any(
            (p.scale, p.zero_point) != (found[0].scale, found[0].zero_point) for p in found
        ):
            return None
        return found[0]

    def output_quantization(self, name: str) -> QuantParams | None:
        """Scale and zero point of graph output ``name``, from the operator that writes it
        (through shape-only operators)."""
        seen = 0
        node = self._producer.get(name)
        while node is not None and seen < 64:
            if node.op_type == "QuantizeLinear":
                return self._params(node, (1, 2), "uint8")
            if node.op_type in _OUTPUT_PARAMS:
                return self._params(node, _OUTPUT_PARAMS[node.op_type], "uint8")
            if node.op_type not in _PASS_THROUGH or not node.input:
                return None
            node = self._producer.get(node.input[0])
            seen += 1
        return None

    def quantization(self) -> Quantization:
        from onnx import TensorProto

        ops = {n.op_type for n in self.proto.graph.node}
        fmt = None
        if ops & _QOPERATOR_OPS:
            fmt = "QOperator"
        elif "DequantizeLinear" in ops:
            fmt = "QDQ"
        found: set[str] = set()
        if fmt is not None:  # 8-bit weights and zero points say which 8-bit types are used
            for tensor in self._consts.values():
                dtype = {TensorProto.INT8: "int8", TensorProto.UINT8: "uint8"}.get(tensor.data_type)
                if dtype:
                    found.add(dtype)
        return Quantization(fmt, tuple(sorted(found)))
