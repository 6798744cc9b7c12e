"""The engine's empty-call floor: what one call costs through the engine before the model
does any work.

A do-nothing model (identity on the model's input: same dtype, same per-sample shape,
dynamic batch) is generated in the run for the engine's file format (ONNX: one
``Identity`` node built with ``onnx.helper``; pt2: ``torch.export`` of a module that
returns its input; TensorRT builds its plan from the ONNX one) and run through an engine
made from the same resolved config (same settings, threads, call path, CUDA graph), at each
scenario's batch size, on the run's own inputs prepared the way the scenario prepares them.

Rules enforced here:
- the floor is measured after the run's windows and ready idle, so it never disturbs
  them; it is bounded: a warm-up of ``WARMUP_S`` then ``FLOOR_S`` of calls (at least
  ``MIN_CALLS``) per scenario (the quick variants in quick mode);
- single stream: each call is timed alone, synchronised after each call when the engine
  needs it, as its queries are (median and mean); offline: back-to-back calls,
  synchronised at the end, as its windows are (mean only);
- the floor's energy is not measured: its span is far below the window a meter needs to
  observe enough sensor updates, so ``energy_note`` says so rather than giving a number;
- a do-nothing model the engine cannot build, load or run gives a floor with
  ``unavailable_reason`` (one line), never a silent gap and never a failed run.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ecoscore.errors import one_line
from ecoscore.record import EmptyCall
from ecoscore.runners.engines.base import Engine, EngineConfig, LoadHints
from ecoscore.runners.loop import stamped_calls
from ecoscore.runners.meters.base import Meter
from ecoscore.runners.watchdog import EngineTimeLimit

#: Seconds of timed calls per scenario, and of warm-up before them.
FLOOR_S = 0.25
WARMUP_S = 0.05
#: The same in quick mode.
QUICK_FLOOR_S = 0.05
QUICK_WARMUP_S = 0.01
#: Calls timed at least, however slow the engine.
MIN_CALLS = 20
#: Distinct prepared batches the calls cycle through.
BATCHES = 8
#: Opset and IR version of the generated ONNX identity (read by any onnxruntime >= 1.16).
ONNX_OPSET = 18
ONNX_IR_VERSION = 9

Clock = Callable[[], int]


def identity_onnx(path: Path, sample: np.ndarray, name: str = "input") -> Path:
    """An ONNX model whose one output is its input: dtype and per-sample shape of
    ``sample`` (a batch), batch dimension dynamic."""
    import onnx
    from onnx import helper

    dtype = np.dtype(sample.dtype)
    elem = (
        onnx.TensorProto.STRING if dtype.kind in "OUS" else helper.np_dtype_to_tensor_dtype(dtype)
    )
    dims: list[int | str] = ["batch", *(int(d) for d in sample.shape[1:])]
    graph = helper.make_graph(
        [helper.make_node("Identity", [name], ["output"])],
        "empty_call",
        [helper.make_tensor_value_info(name, elem, dims)],
        [helper.make_tensor_value_info("output", elem, dims)],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        producer_name="ecoscore-empty-call",
    )
    model.ir_version = ONNX_IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def identity_pt2(path: Path, sample: np.ndarray) -> Path:
    """A torch.export archive of a module that returns its input: dtype and per-sample
    shape of ``sample``, batch dimension dynamic."""
    import torch

    class Identity(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    example = torch.zeros((2, *sample.shape[1:]), dtype=torch.from_numpy(sample[:1]).dtype)
    batch = torch.export.Dim("batch", min=1, max=65536)
    program = torch.export.export(Identity(), (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    return path


def identity_model(folder: Path, fmt: str, sample: np.ndarray) -> Path:
    """The do-nothing model for model files of format ``fmt`` ("onnx" or "pt2")."""
    if fmt == "pt2":
        return identity_pt2(folder / "empty_call.pt2", sample)
    if fmt == "onnx":
        return identity_onnx(folder / "empty_call.onnx", sample)
    raise ValueError(f"no do-nothing model for the {fmt!r} format")


def time_calls(
    engine: Engine,
    batches: list,
    seconds: float,
    warmup_s: float,
    single: bool,
    clock: Clock = time.perf_counter_ns,
) -> tuple[int, float, float, float | None]:
    """Warm up, then call for ``seconds`` (at least ``MIN_CALLS``): (calls, seconds spent,
    mean seconds per call, median seconds per call for ``single`` else None)."""
    run, sync = engine.run_prepared, engine.synchronize
    nb = len(batches)
    end = clock() + int(warmup_s * 1e9)
    i = 0
    while i < 3 or clock() < end:
        run(batches[i % nb])
        i += 1
    sync()
    if single:
        stamps = stamped_calls(engine, batches, int(seconds * 1e9), MIN_CALLS, clock)
        calls = len(stamps) - 1
        per_call = np.diff(np.asarray(stamps, dtype=np.int64)) / 1e9
        spent = (stamps[-1] - stamps[0]) / 1e9
        return calls, spent, spent / calls, float(np.median(per_call))
    t0 = clock()
    deadline = t0 + int(seconds * 1e9)
    i = 0
    while i < MIN_CALLS or clock() < deadline:
        run(batches[i % nb])
        i += 1
    sync()
    spent = (clock() - t0) / 1e9
    return i, spent, spent / i, None


def energy_note(seconds: float, meter: Meter | None) -> str:
    """Why the floor carries no energy figure."""
    if meter is None or meter.info.measurement != "MEASURED":
        return "not measured: the run's meter does not measure energy (time only)"
    need = meter.min_window_s()
    if need > seconds:
        return (
            f"not measured: the floor runs {seconds:g} s per scenario, under the {need:.3g} s "
            f"the meter ({meter.info.name}) needs to observe enough sensor updates"
        )
    return f"not measured: the floor runs {seconds:g} s per scenario and is timed only"


def floor_config(config: EngineConfig) -> EngineConfig:
    """The engine config for the do-nothing model: the run's, without its choices of the
    real model's output and layout (the identity has one output and any layout)."""
    return config.model_copy(update={"output": None, "layout": None})


def measure_empty_calls(
    config: EngineConfig,
    fmt: str,
    x: np.ndarray,
    batch_sizes: dict[str, int],
    quick: bool = False,
    meter: Meter | None = None,
    clock: Clock = time.perf_counter_ns,
) -> dict[str, EmptyCall]:
    """The floor of every scenario in ``batch_sizes`` (name -> batch size) on the run's
    adapted inputs ``x``, through an engine built from ``config``; ``meter`` (the run's)
    is named in why the floor's energy is not measured."""
    seconds, warmup = (QUICK_FLOOR_S, QUICK_WARMUP_S) if quick else (FLOOR_S, WARMUP_S)
    note = energy_note(seconds, meter)
    label = f"identity ({fmt}) through {config.engine}"
    out: dict[str, EmptyCall] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="ecoscore-empty-call-") as tmp:
            path = identity_model(Path(tmp), fmt, x[:1])
            engine = floor_config(config).build()
            try:
                engine.load(path, LoadHints(max(batch_sizes.values()), lambda: x))
                for name, batch in batch_sizes.items():
                    out[name] = _floor(engine, x, batch, name, seconds, warmup, clock)
            finally:
                engine.close()
    except EngineTimeLimit:
        raise  # the run's time limit holds here too
    except Exception as e:  # the engine's library raises its own types: recorded, not raised
        why = f"the do-nothing model did not run: {one_line(e)}"
        out = {name: _unavailable(batch, why) for name, batch in batch_sizes.items()}
    return {
        name: ec.model_copy(
            update={"model": label, "energy_note": note if ec.mean_call_s is not None else None}
        )
        for name, ec in out.items()
    }


def _floor(
    engine: Engine,
    x: np.ndarray,
    batch: int,
    name: str,
    seconds: float,
    warmup: float,
    clock: Clock,
) -> EmptyCall:
    batches = [
        engine.prepare(np.ascontiguousarray(x[(np.arange(batch) + b * batch) % len(x)]))
        for b in range(BATCHES)
    ]
    calls, spent, mean, med = time_calls(
        engine, batches, seconds, warmup, name == "single_stream", clock
    )
    return EmptyCall(
        model="",
        batch_size=batch,
        calls=calls,
        duration_s=spent,
        mean_call_s=mean,
        median_call_s=med,
    )


def _unavailable(batch: int, why: str) -> EmptyCall:
    return EmptyCall(
        model="",
        batch_size=batch,
        calls=0,
        duration_s=0.0,
        mean_call_s=None,
        unavailable_reason=why,
    )
