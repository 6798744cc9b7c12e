"""How a loaded model meets a workload: which output is read, how the workload's inputs are
laid out and typed for it, and at which batch sizes it can run. Decided once, after
loading and before anything is timed; recorded (``ModelBinding.describe``).

Rules this module enforces:
- **inputs are converted once, before timing**: the workload's arrays are transposed (NHWC
  <-> NCHW), reshaped (a model that takes the same values flattened or without a unit
  axis) and cast or quantized for the model by ``adapt_input``, on the whole evaluation set;
- **the layout** of a 4-D image input is the one declared (``--layout``) or the only one
  the model's input shape fits; a shape that fits both (dynamic sizes) is refused, asking
  for ``--layout``;
- **8-bit inputs** are quantized with the scale and zero point read from the model
  (``round half to even``, saturated, as ONNX QuantizeLinear does); a model whose 8-bit
  input has no readable scale is refused; 8-bit outputs are dequantized the same way;
- **outputs**: the one named (``--output``), else the only output that follows the
  workload's convention; several candidates, or none, are refused with the list of outputs;
  a string output (class names) or a ZipMap (a list of dicts) is refused with one line;
- **scikit-learn outlier detectors** exported by skl2onnx give ``scores`` that are higher
  for normal samples (``decision_function``); ecoscore negates them for anomaly workloads
  (whose scores are higher for anomalies) and records it;
- **a fixed batch of 1** (a model exported without a dynamic batch dimension) is kept: the
  offline scenario and the quality pass then run at batch 1, and the record says so; any
  other fixed batch is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecoscore.benchmarks.base import Workload
from ecoscore.runners.engines.base import Engine, EngineError, OutputMeta, QuantParams

_FLOAT = ("float32", "float16", "float64")
_EIGHT_BIT = ("int8", "uint8")
_SKLEARN_OUTLIER_NOTE = (
    "negated: skl2onnx exports scikit-learn outlier detectors with 'scores' = "
    "decision_function, higher for normal samples; anomaly workloads score anomalies higher"
)


def _dynamic(d: object) -> bool:
    return not isinstance(d, int)


def _fits(dims: tuple[Any, ...], pattern: tuple[int | None, ...]) -> bool:
    return len(dims) == len(pattern) and all(
        _dynamic(d) or p is None or d == p for d, p in zip(dims, pattern, strict=True)
    )


def _show(shape: tuple[Any, ...]) -> str:
    return (
        "("
        + ", ".join("batch" if i == 0 and _dynamic(d) else str(d) for i, d in enumerate(shape))
        + ")"
    )


@dataclass(frozen=True)
class ModelBinding:
    """The decisions, each with how it was made (``choices``, recorded)."""

    transpose: tuple[int, ...] | None = None
    reshape: tuple[int, ...] | None = None
    input_dtype: str = "float32"
    input_quant: QuantParams | None = None
    output: str | None = None
    output_quant: QuantParams | None = None
    negate_output: bool = False
    fixed_batch: int | None = None
    choices: dict[str, Any] = field(default_factory=dict)

    def adapt_input(self, x: np.ndarray) -> np.ndarray:
        """The workload's arrays as the model takes them (the whole set at once)."""
        y = np.asarray(x)
        if self.transpose is not None:
            y = y.transpose(self.transpose)
        if self.reshape is not None:
            y = y.reshape(len(y), *self.reshape)
        q = self.input_quant
        if q is not None:
            info = np.iinfo(q.dtype)
            y = np.clip(np.rint(y / np.float32(q.scale)) + q.zero_point, info.min, info.max)
            return np.ascontiguousarray(y.astype(q.dtype))
        return np.ascontiguousarray(y, dtype=self.input_dtype)

    def adapt_output(self, y: np.ndarray) -> np.ndarray:
        """The selected output as the workload scores it (dequantized, sign fixed)."""
        out = np.asarray(y)
        q = self.output_quant
        if q is not None:
            out = (out.astype(np.float32) - np.float32(q.zero_point)) * np.float32(q.scale)
        return -out if self.negate_output else out

    def batch_size(self, wanted: int) -> int:
        return self.fixed_batch or wanted

    def describe(self) -> dict[str, Any]:
        return dict(self.choices)


def resolve(
    engine: Engine,
    workload: Workload,
    path: Path,
    layout: str | None = None,
    output: str | None = None,
) -> ModelBinding:
    """Decide how ``engine``'s loaded model meets ``workload`` (``layout`` and ``output``:
    what the user declared, or None). Raises EngineError with one line on a refusal."""
    choices: dict[str, Any] = {}
    meta = engine.input_meta()
    spec = workload.info.input
    shape = tuple(meta.shape)
    name = workload.info.name

    # batch dimension
    fixed = None
    if shape and isinstance(shape[0], int):
        if shape[0] != 1:
            raise EngineError(
                f"{path}: the model's batch dimension is fixed at {shape[0]}; export it with "
                "a dynamic batch dimension (or a batch of 1)"
            )
        fixed = 1
        choices["batch"] = "fixed at 1 by the model: quality and offline run at batch 1"

    # layout and shape
    transpose, reshape = _layout(shape, spec.shape, spec.layout, layout, path, name, choices)

    # dtype
    quant = None
    model_dtype = meta.dtype
    if spec.dtype == "float32" and model_dtype in _EIGHT_BIT:
        quant = engine.input_quantization()
        if quant is None:
            raise EngineError(
                f"{path}: the model takes {model_dtype} but its input's scale and zero point "
                "cannot be read from the graph (no DequantizeLinear or QLinear operator reads "
                "it); export with a float input or quantize the input inside the graph"
            )
        if quant.dtype != model_dtype:
            quant = QuantParams(quant.scale, quant.zero_point, model_dtype, quant.where)
        choices["input_quantization"] = {
            "scale": quant.scale,
            "zero_point": quant.zero_point,
            "dtype": quant.dtype,
            "read_from": quant.where,
        }
    elif spec.dtype == "float32" and model_dtype in _FLOAT:
        if model_dtype != "float32":
            choices["input_cast"] = f"float32 -> {model_dtype}"
        inside = engine.input_quantization()
        if inside is not None:
            choices["input_quantized_in_graph"] = {
                "scale": inside.scale,
                "zero_point": inside.zero_point,
                "dtype": inside.dtype,
                "by": inside.where,
            }
    elif model_dtype != spec.dtype:
        raise EngineError(f"{path}: the model takes {model_dtype}; {name} feeds {spec.dtype}")

    # output
    out_name, out_quant, negate = _output(engine, workload, path, output, choices)
    return ModelBinding(
        transpose=transpose,
        reshape=reshape,
        input_dtype=model_dtype if quant is None else quant.dtype,
        input_quant=quant,
        output=out_name,
        output_quant=out_quant,
        negate_output=negate,
        fixed_batch=fixed,
        choices=choices,
    )


def _layout(
    shape: tuple[Any, ...],
    spec_shape: tuple[int | None, ...],
    spec_layout: str | None,
    declared: str | None,
    path: Path,
    name: str,
    choices: dict[str, Any],
) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """(transpose axes, reshape) from the workload's arrays to the model's input."""
    if declared is not None and spec_layout is None:
        raise EngineError(
            f"--layout {declared}: {name}'s input {_show(spec_shape)} is not an image; the "
            "option applies to image workloads"
        )
    dims, want = shape[1:], spec_shape[1:]
    perms: dict[str, tuple[int, ...]] = {}
    if spec_layout is not None:
        other = "NCHW" if spec_layout == "NHWC" else "NHWC"
        to_other = (0, 3, 1, 2) if spec_layout == "NHWC" else (0, 2, 3, 1)
        perms = {spec_layout: (0, 1, 2, 3), other: to_other}
    if len(dims) == len(want):
        if not perms:
            if not _fits(dims, want):
                raise EngineError(
                    f"{path}: the model's input shape {_show(shape)} does not fit {name}'s "
                    f"{_show(spec_shape)}"
                )
            return None, None
        fitting = [
            lay for lay, p in perms.items() if _fits(dims, tuple(want[i - 1] for i in p[1:]))
        ]
        if declared is not None:
            if declared not in fitting:
                p = perms[declared]
                expect = (None, *(want[i - 1] for i in p[1:]))
                raise EngineError(
                    f"{path}: the model's input shape {_show(shape)} is not {declared} "
                    f"{_show(expect)} ({name}'s input)"
                )
            chosen, how = declared, "declared (--layout)"
        elif len(fitting) == 1:
            chosen, how = fitting[0], f"from the model's input shape {_show(shape)}"
        elif not fitting:
            shown = " or ".join(
                f"{lay} {_show((None, *(want[i - 1] for i in p[1:])))}" for lay, p in perms.items()
            )
            raise EngineError(
                f"{path}: the model's input shape {_show(shape)} fits neither of {name}'s "
                f"layouts: {shown}"
            )
        else:
            raise EngineError(
                f"{path}: the model's input shape {_show(shape)} fits both NCHW and NHWC; "
                "declare it with --layout NCHW or --layout NHWC"
            )
        choices["layout"] = f"{chosen}, {how}"
        perm = perms[chosen]
        return (None if perm == (0, 1, 2, 3) else perm), None
    # another rank: the same values, flattened or without unit axes
    size = int(np.prod([d for d in want if d is not None]))
    if any(_dynamic(d) for d in dims) or int(np.prod(dims)) != size:
        raise EngineError(
            f"{path}: the model's input shape {_show(shape)} does not fit {name}'s "
            f"{_show(spec_shape)}"
        )
    order = declared or spec_layout
    perm = perms.get(order) if order else None
    transpose = None if perm in (None, (0, 1, 2, 3)) else perm
    choices["reshape"] = f"{_show(spec_shape)} -> {_show((None, *dims))}" + (
        f", in {order} order" if order else ""
    )
    return transpose, tuple(int(d) for d in dims)


def _describe_outputs(outs: list[OutputMeta]) -> str:
    return ", ".join(f"{o.name} {o.dtype} {_show(o.shape)}" for o in outs)


def _refuse_kind(o: OutputMeta, path: Path) -> None:
    if o.dtype == "str":
        raise EngineError(
            f"{path}: output {o.name!r} holds strings (class names); ecoscore scores class "
            "scores or probabilities: read the model's probability output, or export one"
        )
    if o.dtype.startswith(("seq", "map")):
        raise EngineError(
            f"{path}: output {o.name!r} is {o.dtype} (a scikit-learn ZipMap, a list of "
            "dicts); export with skl2onnx options {'zipmap': False} to get a probability "
            "tensor"
        )


def _convention(workload: Workload) -> str:
    info = workload.info
    if info.task == "classification":
        return f"class scores (batch, {info.num_classes})"
    return "an anomaly score per input (batch,) or (batch, 1)"


def _output(
    engine: Engine, workload: Workload, path: Path, declared: str | None, choices: dict[str, Any]
) -> tuple[str | None, QuantParams | None, bool]:
    outs = engine.output_metas()
    if not outs:
        if declared is not None:
            engine.select_output(declared)  # raises: this engine cannot list its outputs
        return None, None, False
    by_name = {o.name: o for o in outs}
    if declared is not None:
        o = by_name.get(declared)
        if o is None:
            raise EngineError(
                f"{path}: --output {declared!r}: no such output "
                f"(outputs: {_describe_outputs(outs)})"
            )
        _refuse_kind(o, path)
        if not workload.output_fits(o.shape, o.dtype):
            raise EngineError(
                f"{path}: output {o.name!r} is {o.dtype} {_show(o.shape)}; "
                f"{workload.info.name} needs {_convention(workload)}"
            )
        how = "declared (--output)"
    else:
        fitting = [o for o in outs if workload.output_fits(o.shape, o.dtype)]
        if len(fitting) == 1:
            o = fitting[0]
            how = (
                "the model's only output"
                if len(outs) == 1
                else (f"the only one of {len(outs)} outputs that is {_convention(workload)}")
            )
        elif len(outs) == 1:
            _refuse_kind(outs[0], path)
            raise EngineError(
                f"{path}: the model's output {outs[0].name!r} is {outs[0].dtype} "
                f"{_show(outs[0].shape)}; {workload.info.name} needs {_convention(workload)}"
            )
        elif not fitting:
            hints = [o for o in outs if o.dtype == "str" or o.dtype.startswith(("seq", "map"))]
            hint = ""
            if hints:
                hint = (
                    "; string outputs are class names and seq(map) outputs are ZipMaps "
                    "(skl2onnx: export with options {'zipmap': False})"
                )
            raise EngineError(
                f"{path}: none of the model's outputs is {_convention(workload)}: "
                f"{_describe_outputs(outs)}{hint}"
            )
        else:
            raise EngineError(
                f"{path}: several outputs could be {_convention(workload)}: "
                f"{_describe_outputs(fitting)}; choose one with --output NAME"
            )
    engine.select_output(o.name)
    choices["output"] = f"{o.name}, {how}"
    quant = None
    if o.dtype in _EIGHT_BIT:
        quant = engine.output_quantization(o.name)
        if quant is None:
            raise EngineError(
                f"{path}: output {o.name!r} is {o.dtype} and its scale cannot be read from "
                "the graph (no QuantizeLinear or QLinear operator writes it); export with a "
                "float output (onnxruntime's quantizer keeps float outputs by default)"
            )
        choices["output_dequantization"] = {
            "scale": quant.scale,
            "zero_point": quant.zero_point,
            "read_from": quant.where,
        }
    negate = (
        workload.info.task == "anomaly"
        and engine.model_metadata().get("producer_name") == "skl2onnx"
        and o.name == "scores"
        and "label" in by_name
    )
    if negate:
        choices["output_sign"] = _SKLEARN_OUTLIER_NOTE
    return o.name, quant, negate
