"""TensorRT (native, version 10) on an NVIDIA GPU: fp32, fp16 or int8, with an engine cache.

An ONNX model is parsed into a TensorRT network, built into a serialized engine for one
optimisation profile (batch 1 to ``max_batch``) and kept in a cache folder, so that a later
run on the same GPU, TensorRT version, model and precision deserialises it instead of
building again. int8 is calibrated (entropy calibration) on a calibration split given as
``calibration_data``; the calibration table is cached beside the engine.

Device memory is torch's: buffers are torch CUDA tensors and TensorRT receives their
``data_ptr()``. All TensorRT work runs on one dedicated (non-default) torch CUDA stream;
inputs are copied to the GPU once, before timing (``prepare``), and the timed call only sets
the input shape and addresses and enqueues (``execute_async_v3``). The loop synchronises the
stream at every window edge.

The pure parts (cache key, cache file writes, calibration batching) import neither tensorrt
nor torch, so they are tested on any machine.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from ecoscore.benchmarks.base import array_sha256
from ecoscore.files import file_sha256, write_atomic
from ecoscore.runners.engines.base import (
    Engine,
    EngineConfig,
    EngineError,
    EngineInfo,
    EngineUnavailable,
    InputMeta,
    LoadHints,
)
from ecoscore.runners.model_files import check_onnx_file

PRECISIONS = ("fp32", "fp16", "int8")
INSTALL_HINT = "tensorrt is not installed: pip install tensorrt (needs an NVIDIA GPU)"
DEFAULT_CACHE_DIR = Path("~/.cache/ecoscore/tensorrt")
DEFAULT_WORKSPACE_BYTES = 1 << 30
#: Bumped whenever the way this module builds engines changes, so old cached engines are
#: not reused for a different build recipe.
BUILD_RECIPE = 1

# ---------------------------------------------------------------------------------------
# Pure functions: no tensorrt, no torch.
# ---------------------------------------------------------------------------------------


def engine_cache_key(
    model_sha256: str,
    trt_version: str,
    gpu_name: str,
    compute_capability: str,
    precision: str,
    max_batch: int,
    calibration_sha256: str | None = None,
    tf32: bool = False,
) -> str:
    """The hex sha256 that names a cached engine: every input that changes the engine."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if precision == "int8" and not calibration_sha256:
        raise ValueError("an int8 engine key needs the calibration data's sha256")
    doc = {
        "recipe": BUILD_RECIPE,
        "model_sha256": model_sha256,
        "tensorrt": trt_version,
        "gpu": gpu_name,
        "compute_capability": compute_capability,
        "precision": precision,
        "max_batch": int(max_batch),
        "calibration_sha256": calibration_sha256 if precision == "int8" else None,
        "tf32": bool(tf32) if precision == "fp32" else None,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def engine_file_name(key: str, precision: str, max_batch: int) -> str:
    """``<precision>-b<max_batch>-<key>.engine``: readable in a listing, unique by key."""
    return f"{precision}-b{int(max_batch)}-{key}.engine"


@dataclass(frozen=True)
class CachedPlan:
    """A serialized engine and how it was obtained."""

    plan: bytes
    cache_hit: bool
    build_seconds: float | None
    path: Path


def load_or_build_plan(
    path: Path, build: Callable[[], bytes], use_cache: bool = True
) -> CachedPlan:
    """The serialized engine at ``path`` if there is one; else ``build()``, stored at ``path``.

    Beside the engine, ``<path>.json`` keeps the build time so that a cache hit can still
    report how long the engine took to build.
    """
    path = Path(path)
    meta_path = path.with_name(path.name + ".json")
    if use_cache and path.is_file() and path.stat().st_size > 0:
        return CachedPlan(path.read_bytes(), True, _read_build_seconds(meta_path), path)
    t0 = time.perf_counter()
    plan = build()
    seconds = time.perf_counter() - t0
    if use_cache:
        write_atomic(path, plan)
        meta = {"build_seconds": seconds, "built_at_unix": time.time(), "bytes": len(plan)}
        write_atomic(meta_path, json.dumps(meta, sort_keys=True).encode())
    return CachedPlan(plan, False, seconds, path)


def _read_build_seconds(meta_path: Path) -> float | None:
    try:
        value = json.loads(meta_path.read_text())["build_seconds"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def calibration_batch_size(samples: int, max_batch: int) -> int:
    """Calibration batches are as large as the engine's batch, or the whole set if smaller."""
    if samples < 1:
        raise ValueError("calibration data is empty")
    return min(int(samples), int(max_batch))


def calibration_sample_count(samples: int, max_batch: int) -> int:
    """How many samples calibration uses: whole batches only."""
    size = calibration_batch_size(samples, max_batch)
    return (int(samples) // size) * size


def calibration_batches(
    data: np.ndarray, batch_size: int, dtype: Any = np.float32
) -> Iterator[np.ndarray]:
    """Consecutive full batches of ``data`` as contiguous arrays of the model input's dtype
    (a remainder smaller than ``batch_size`` is left out: TensorRT calibrates on batches of
    one fixed shape)."""
    if batch_size < 1:
        raise ValueError(f"calibration batch size must be at least 1, not {batch_size}")
    full = (len(data) // batch_size) * batch_size
    for start in range(0, full, batch_size):
        yield np.ascontiguousarray(data[start : start + batch_size], dtype=dtype)


class CalibrationFeeder:
    """Hands out calibration batches one at a time; counts what it handed out."""

    def __init__(self, data: np.ndarray, max_batch: int, dtype: Any = np.float32) -> None:
        data = np.asarray(data)
        if data.ndim < 1 or len(data) == 0:
            raise ValueError("calibration data is empty")
        self.batch_size = calibration_batch_size(len(data), max_batch)
        self.sample_shape: tuple[int, ...] = tuple(int(d) for d in data.shape[1:])
        self.dtype = np.dtype(dtype)
        self._batches = calibration_batches(data, self.batch_size, self.dtype)
        self.samples_fed = 0

    def next_batch(self) -> np.ndarray | None:
        batch = next(self._batches, None)
        if batch is not None:
            self.samples_fed += len(batch)
        return batch


# ---------------------------------------------------------------------------------------
# The engine.
# ---------------------------------------------------------------------------------------


def import_tensorrt() -> Any:
    try:
        import tensorrt as trt
    except ImportError:
        raise EngineUnavailable(INSTALL_HINT) from None
    major = _major(str(getattr(trt, "__version__", "0")))
    if major < 10:
        raise EngineUnavailable(
            f"the tensorrt engine needs TensorRT 10 or later; this one is "
            f"{getattr(trt, '__version__', 'unknown')}: pip install 'tensorrt>=10'"
        )
    return trt


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


@dataclass
class _IoTensor:
    name: str
    is_input: bool
    dtype: Any  # torch dtype
    buffer: Any = None  # torch CUDA tensor (outputs: flat, sized for max_batch)


class _Prepared:
    """A batch already on the GPU: the tensor and its input shape."""

    __slots__ = ("tensor", "batch", "shape")

    def __init__(self, tensor: Any) -> None:
        self.tensor = tensor
        self.batch = int(tensor.shape[0])
        self.shape = tuple(int(d) for d in tensor.shape)


class TensorRTConfig(EngineConfig):
    """Native TensorRT on CUDA. The optimisation profile's largest batch is the workload's
    offline batch (given at load); int8 calibrates on ``calibration_samples`` inputs of the
    workload's training split, never its evaluation set."""

    formats: ClassVar[tuple[str, ...]] = ("onnx",)
    path_settings: ClassVar[tuple[str, ...]] = ("cache_dir",)

    engine: Literal["tensorrt"] = "tensorrt"
    device: str = "cuda"
    precision: Literal["fp32", "fp16", "int8"] = "fp32"
    workspace_bytes: int = Field(default=DEFAULT_WORKSPACE_BYTES, ge=1 << 20)
    cache_dir: str | None = None
    use_cache: bool = True
    tf32: bool = False
    calibration_samples: int = Field(default=512, ge=1)

    def build(self) -> TensorRTEngine:
        return TensorRTEngine(self)


class TensorRTEngine(Engine):
    needs_sync = True
    libraries = ("tensorrt", "torch")

    def __init__(self, config: TensorRTConfig) -> None:
        self.trt = import_tensorrt()
        from ecoscore.runners.engines.torch_engine import import_torch

        torch = import_torch()
        self.torch = torch
        device = config.device
        if not device.startswith("cuda"):
            raise EngineError(
                f"the tensorrt engine runs on an NVIDIA GPU (cuda, cuda:N), not {device!r}"
            )
        if not torch.cuda.is_available():
            raise EngineUnavailable(
                "the tensorrt engine needs an NVIDIA GPU and a CUDA build of torch (for "
                f"device memory); this torch ({torch.__version__}) sees no GPU"
            )
        self.index = int(device.partition(":")[2] or 0)
        super().__init__(config.model_copy(update={"device": f"cuda:{self.index}"}))
        self.settings: TensorRTConfig = self.config  # type: ignore[assignment]
        self.device = self.settings.device
        self.precision = config.precision
        self.max_batch = 1
        self.workspace_bytes = config.workspace_bytes
        self.cache_dir = Path(config.cache_dir or DEFAULT_CACHE_DIR).expanduser()
        self.use_cache = config.use_cache
        self.calibration_data: np.ndarray | None = None
        self.tf32 = config.tf32
        props = torch.cuda.get_device_properties(self.index)
        self.gpu_name = str(props.name)
        self.compute_capability = f"{props.major}.{props.minor}"
        self._logger: Any = None
        self._runtime: Any = None
        self._engine: Any = None
        self._context: Any = None
        self._stream: Any = None
        self._io: list[_IoTensor] = []
        self._input: _IoTensor | None = None
        self._output: _IoTensor | None = None
        self._input_dims: list[int] = []
        self._current_shape: tuple[int, ...] | None = None
        self._cache: CachedPlan | None = None
        self._cache_key = ""
        self._load_seconds: float | None = None
        self._calibration_cache_hit: bool | None = None

    # -- building -------------------------------------------------------------------------

    def load(self, path: Path, hints: LoadHints | None = None) -> None:
        path = Path(path)
        check_onnx_file(path)
        hints = hints or LoadHints()
        self.max_batch = max(int(hints.max_batch), 1)
        if self.precision == "int8":
            if hints.calibration is None:
                raise EngineError(
                    f"{path}: tensorrt int8 needs calibration inputs from the workload's "
                    "training split; this workload gives none"
                )
            data = np.asarray(hints.calibration())
            self.calibration_data = data[: self.settings.calibration_samples]
        torch = self.torch
        torch.cuda.set_device(self.index)
        self._logger = _make_logger(self.trt)
        calib_sha = array_sha256(self.calibration_data) if self.precision == "int8" else None
        self._cache_key = engine_cache_key(
            file_sha256(path),
            self.trt.__version__,
            self.gpu_name,
            self.compute_capability,
            self.precision,
            self.max_batch,
            calib_sha,
            self.tf32,
        )
        plan_path = self.cache_dir / engine_file_name(
            self._cache_key, self.precision, self.max_batch
        )
        try:
            cached = load_or_build_plan(plan_path, lambda: self._build(path), self.use_cache)
        except OSError as e:
            raise EngineError(f"{path}: cannot use the engine cache {self.cache_dir}: {e}") from e
        engine = self._deserialize(cached.plan)
        if engine is None and cached.cache_hit:
            # A cached file TensorRT cannot read (truncated, other build): rebuild it once.
            plan_path.unlink(missing_ok=True)
            cached = load_or_build_plan(plan_path, lambda: self._build(path), self.use_cache)
            engine = self._deserialize(cached.plan)
        if engine is None:
            raise EngineError(
                f"{path}: TensorRT cannot deserialize the engine built from this model"
                f"{self._logger.tail()}"
            )
        self._cache = cached
        self._engine = engine
        self._setup_context(path)

    def _deserialize(self, plan: bytes) -> Any:
        t0 = time.perf_counter()
        if self._runtime is None:
            self._runtime = self.trt.Runtime(self._logger)
        engine = self._runtime.deserialize_cuda_engine(plan)
        self._load_seconds = time.perf_counter() - t0
        return engine

    def _build(self, path: Path) -> bytes:
        """Parse the ONNX file and build a serialized engine (the slow step, minutes)."""
        trt = self.trt
        builder = trt.Builder(self._logger)
        # TensorRT 10 networks are always explicit-batch: the creation flag is gone, 0 is it.
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse_from_file(str(path)):
            errors = [_parser_error_text(parser.get_error(i)) for i in range(parser.num_errors)]
            raise EngineError(
                f"{path}: the TensorRT ONNX parser rejected the model "
                f"({len(errors)} error(s)):\n  " + "\n  ".join(errors or ["(no detail)"])
            )
        name, sample_shape = _network_input(network, path)
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, self.workspace_bytes)
        profile = builder.create_optimization_profile()
        profile.set_shape(
            name,
            (1, *sample_shape),
            (self.max_batch, *sample_shape),
            (self.max_batch, *sample_shape),
        )
        config.add_optimization_profile(profile)
        in_dtype = _numpy_dtype(trt, network.get_input(0).dtype)
        calibrator = self._configure_precision(builder, config, path, name, sample_shape, in_dtype)
        serialized = builder.build_serialized_network(network, config)
        if calibrator is not None:
            calibrator.release()
        if serialized is None:
            raise EngineError(
                f"{path}: TensorRT could not build a {self.precision} engine (max batch "
                f"{self.max_batch}, workspace {self.workspace_bytes} bytes){self._logger.tail()}"
            )
        return bytes(serialized)

    def _configure_precision(
        self,
        builder: Any,
        config: Any,
        path: Path,
        name: str,
        sample_shape: tuple[int, ...],
        in_dtype: np.dtype,
    ) -> Any:
        trt = self.trt
        flags = trt.BuilderFlag
        if self.precision == "fp32":
            tf32 = getattr(flags, "TF32", None)
            if tf32 is not None and not self.tf32:
                config.clear_flag(tf32)  # fp32 means fp32: TensorRT enables TF32 by default
            return None
        needed = ["FP16"] + (["INT8"] if self.precision == "int8" else [])
        missing = [f for f in needed if not hasattr(flags, f)]
        if missing:
            raise EngineError(
                f"{path}: TensorRT {trt.__version__} has no BuilderFlag.{missing[0]} (TensorRT 11 "
                f"removed the weakly typed precision flags); {self.precision} here needs "
                "TensorRT 10: pip install 'tensorrt-cu12>=10,<11'"
            )
        config.set_flag(flags.FP16)
        if self.precision != "int8":
            return None
        if not (
            hasattr(trt, "IInt8EntropyCalibrator2")
            and hasattr(config, "int8_calibrator")
            and hasattr(config, "set_calibration_profile")
        ):
            raise EngineError(
                f"{path}: TensorRT {trt.__version__} has no implicit int8 calibration "
                "(IInt8EntropyCalibrator2); int8 here needs TensorRT 10: "
                "pip install 'tensorrt-cu12>=10,<11'"
            )
        config.set_flag(flags.INT8)
        assert self.calibration_data is not None
        feeder = CalibrationFeeder(self.calibration_data, self.max_batch, in_dtype)
        if feeder.sample_shape != sample_shape:
            raise EngineError(
                f"{path}: calibration samples have shape {feeder.sample_shape}; the model's "
                f"input {name!r} takes {sample_shape} per sample"
            )
        calib_file = self.cache_dir / f"{self._cache_key}.calib"
        calibrator = _make_calibrator(trt, self.torch, self.device, feeder, calib_file)
        self._calibration_cache_hit = calib_file.is_file()
        config.int8_calibrator = calibrator
        calib_profile = builder.create_optimization_profile()
        fixed = (feeder.batch_size, *sample_shape)
        calib_profile.set_shape(name, fixed, fixed, fixed)
        config.set_calibration_profile(calib_profile)
        return calibrator

    # -- execution context and buffers ----------------------------------------------------

    def _setup_context(self, path: Path) -> None:
        trt, torch = self.trt, self.torch
        engine = self._engine
        context = engine.create_execution_context()
        if context is None:
            raise EngineError(
                f"{path}: TensorRT cannot create an execution context (GPU memory?)"
                f"{self._logger.tail()}"
            )
        self._context = context
        self._stream = torch.cuda.Stream(device=self.device)
        io: list[_IoTensor] = []
        for i in range(engine.num_io_tensors):
            tname = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(tname) == trt.TensorIOMode.INPUT
            io.append(_IoTensor(tname, is_input, _torch_dtype(trt, torch, engine, tname, path)))
        inputs = [t for t in io if t.is_input]
        outputs = [t for t in io if not t.is_input]
        if len(inputs) != 1 or not outputs:
            raise EngineError(
                f"{path}: the engine has {len(inputs)} inputs and {len(outputs)} outputs; "
                "ecoscore workloads feed exactly one input and read the first output"
            )
        self._io, self._input, self._output = io, inputs[0], outputs[0]
        self._input_dims = [int(d) for d in engine.get_tensor_shape(self._input.name)]
        full = (self.max_batch, *self._input_dims[1:])
        self._set_shape(full, path)
        with torch.cuda.stream(self._stream):
            self._input.buffer = torch.empty(full, dtype=self._input.dtype, device=self.device)
            for t in outputs:
                shape = [int(d) for d in context.get_tensor_shape(t.name)]
                if any(d < 0 for d in shape):
                    raise EngineError(
                        f"{path}: output {t.name!r} has a data-dependent shape {shape}; "
                        "not supported"
                    )
                t.buffer = torch.empty(int(np.prod(shape)), dtype=t.dtype, device=self.device)
                context.set_tensor_address(t.name, int(t.buffer.data_ptr()))
        self._stream.synchronize()

    def _set_shape(self, shape: tuple[int, ...], path: Path | str = "") -> None:
        assert self._input is not None
        if not self._context.set_input_shape(self._input.name, shape):
            raise EngineError(
                f"{path or 'tensorrt'}: TensorRT refused input shape {shape} for "
                f"{self._input.name!r} (the profile covers batch 1 to {self.max_batch})"
            )
        self._current_shape = shape

    # -- running --------------------------------------------------------------------------

    def input_meta(self) -> InputMeta:
        """Name, shape (``"batch"`` for the dynamic dimension) and numpy dtype name."""
        assert self._input is not None
        shape = tuple(d if d >= 0 else "batch" for d in self._input_dims)
        return InputMeta(self._input.name, shape, str(self._input.dtype).removeprefix("torch."))

    def prepare(self, x: np.ndarray) -> _Prepared:
        torch = self.torch
        assert self._input is not None
        if not 1 <= len(x) <= self.max_batch:
            raise EngineError(
                f"tensorrt: a batch of {len(x)} is outside the engine's profile "
                f"(1 to {self.max_batch}); load with a larger max_batch"
            )
        host = torch.from_numpy(np.ascontiguousarray(x))
        with torch.cuda.stream(self._stream):
            t = host.to(device=self.device, dtype=self._input.dtype)
        self._stream.synchronize()
        return _Prepared(t)

    def run_prepared(self, x: _Prepared) -> Any:
        context = self._context
        if x.shape != self._current_shape:
            self._set_shape(x.shape)
        context.set_tensor_address(self._input.name, x.tensor.data_ptr())  # type: ignore[union-attr]
        if not context.execute_async_v3(self._stream.cuda_stream):
            raise EngineError(f"tensorrt: execute_async_v3 failed{self._logger.tail()}")
        return self._output.buffer  # type: ignore[union-attr]

    def run(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            raise EngineError("tensorrt: cannot run an empty batch")
        outs = [self._run_one(x[i : i + self.max_batch]) for i in range(0, len(x), self.max_batch)]
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def _run_one(self, x: np.ndarray) -> np.ndarray:
        """Copy into the max_batch input buffer, run, wait, copy the first output back."""
        torch = self.torch
        inp, out = self._input, self._output
        assert inp is not None and out is not None
        src = torch.from_numpy(np.ascontiguousarray(x))
        with torch.cuda.stream(self._stream):
            staged = inp.buffer[: len(x)]
            staged.copy_(src)
        self.run_prepared(_Prepared(staged))
        shape = tuple(int(d) for d in self._context.get_tensor_shape(out.name))
        with torch.cuda.stream(self._stream):
            result = out.buffer[: int(np.prod(shape))].view(shape).float().cpu()
        self._stream.synchronize()
        return result.numpy()

    def synchronize(self) -> None:
        if self._stream is not None:
            self._stream.synchronize()

    def info(self) -> EngineInfo:
        cached = self._cache
        settings: dict[str, Any] = {
            "gpu": self.gpu_name,
            "compute_capability": self.compute_capability,
            "cuda_runtime": self.torch.version.cuda,
            "max_batch": self.max_batch,
            "optimization_profile": {"min": 1, "opt": self.max_batch, "max": self.max_batch},
            "workspace_bytes": self.workspace_bytes,
            "tf32": self.tf32 if self.precision == "fp32" else None,
            "builder_flags": {"fp32": [], "fp16": ["FP16"], "int8": ["INT8", "FP16"]}[
                self.precision
            ],
            "engine_cache_hit": cached.cache_hit if cached else None,
            "engine_cache_key": self._cache_key or None,
            "engine_cache_file": str(cached.path) if cached else None,
            "build_seconds": cached.build_seconds if cached else None,
            "deserialize_seconds": self._load_seconds,
            "stream": "dedicated non-default torch CUDA stream",
            "io_tensors": {t.name: str(t.dtype).removeprefix("torch.") for t in self._io},
            "io_buffers": "torch CUDA tensors",
            "io_buffer_bytes": sum(_nbytes(t.buffer) for t in self._io),
            "activation_memory_bytes": _activation_bytes(self._engine),
        }
        if self.precision == "int8":
            assert self.calibration_data is not None
            settings["calibration_samples"] = calibration_sample_count(
                len(self.calibration_data), self.max_batch
            )
            settings["calibration_batch"] = calibration_batch_size(
                len(self.calibration_data), self.max_batch
            )
            settings["calibration_sha256"] = array_sha256(self.calibration_data)
            settings["calibration_algorithm"] = "entropy (IInt8EntropyCalibrator2)"
            settings["calibration_cache_hit"] = self._calibration_cache_hit
        return EngineInfo(
            name="tensorrt",
            version=str(self.trt.__version__),
            device=self.device,
            precision=self.precision,
            settings=settings,
        )

    def close(self) -> None:
        if self._stream is not None:
            self._stream.synchronize()
        for t in self._io:
            t.buffer = None
        self._context = None
        self._engine = None
        self._runtime = None


# ---------------------------------------------------------------------------------------
# Helpers that need the tensorrt module (passed in, never imported at module level).
# ---------------------------------------------------------------------------------------


def _network_input(network: Any, path: Path) -> tuple[str, tuple[int, ...]]:
    """The single input's name and per-sample shape; the batch dimension must be dynamic."""
    if network.num_inputs != 1:
        raise EngineError(
            f"{path}: the model has {network.num_inputs} inputs; ecoscore workloads feed one"
        )
    tensor = network.get_input(0)
    dims = [int(d) for d in tensor.shape]
    if not dims or dims[0] != -1:
        raise EngineError(
            f"{path}: input {tensor.name!r} has shape {dims}; the tensorrt engine needs a "
            "dynamic batch dimension (export the model with a dynamic first axis)"
        )
    if any(d < 0 for d in dims[1:]):
        raise EngineError(
            f"{path}: input {tensor.name!r} has shape {dims}; only the batch dimension may be "
            "dynamic"
        )
    return str(tensor.name), tuple(dims[1:])


def _numpy_dtype(trt: Any, dtype: Any) -> np.dtype:
    """The numpy dtype of a TensorRT data type (float32 when TensorRT has no mapping)."""
    try:
        return np.dtype(trt.nptype(dtype))
    except (TypeError, AttributeError):
        return np.dtype(np.float32)


def _nbytes(tensor: Any) -> int:
    return 0 if tensor is None else int(tensor.numel() * tensor.element_size())


def _activation_bytes(engine: Any) -> int | None:
    """The engine's own scratch memory on the GPU (TensorRT allocates it, not torch)."""
    if engine is None:
        return None
    for attr in ("device_memory_size_v2", "device_memory_size"):
        value = getattr(engine, attr, None)
        if isinstance(value, int):
            return value
    return None


def _parser_error_text(err: Any) -> str:
    try:
        node = err.node()
        where = f"node {node}" if node >= 0 else "graph"
        op = getattr(err, "node_operator", lambda: "")()
        node_name = getattr(err, "node_name", lambda: "")()
        if op or node_name:
            where += f" ({op} {node_name!r})" if node_name else f" ({op})"
        return f"{where}: {err.desc()}"
    except Exception:  # an older binding without these accessors
        return str(err)


def _torch_dtype(trt: Any, torch: Any, engine: Any, name: str, path: Path) -> Any:
    dtype = engine.get_tensor_dtype(name)
    table = {
        "FLOAT": torch.float32,
        "HALF": torch.float16,
        "BF16": torch.bfloat16,
        "INT8": torch.int8,
        "UINT8": torch.uint8,
        "INT32": torch.int32,
        "INT64": torch.int64,
        "BOOL": torch.bool,
    }
    for trt_name, torch_dtype in table.items():
        if getattr(trt.DataType, trt_name, None) == dtype:
            return torch_dtype
    raise EngineError(f"{path}: tensor {name!r} has TensorRT type {dtype}, not supported here")


def _make_logger(trt: Any) -> Any:
    """A TensorRT logger that keeps warnings and errors, to quote them in EngineError."""

    class RecordingLogger(trt.ILogger):  # type: ignore[name-defined, misc]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.messages: list[str] = []

        def log(self, severity: Any, msg: str) -> None:
            sev = trt.ILogger.Severity
            if severity in (sev.INTERNAL_ERROR, sev.ERROR, sev.WARNING):
                label = "warning" if severity == sev.WARNING else "error"
                self.messages.append(f"[{label}] {msg}")
                del self.messages[:-20]

        def tail(self) -> str:
            errors = [m for m in self.messages if m.startswith("[error]")][-5:]
            return ("; TensorRT says:\n  " + "\n  ".join(errors)) if errors else ""

    return RecordingLogger()


def _make_calibrator(
    trt: Any, torch: Any, device: str, feeder: CalibrationFeeder, cache_file: Path
) -> Any:
    """An entropy calibrator fed from ``feeder`` through one reused torch CUDA buffer."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[name-defined, misc]
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.feeder = feeder
            # Kept alive for the whole build: TensorRT reads it after get_batch returns.
            dtype = torch.from_numpy(np.empty(0, dtype=feeder.dtype)).dtype
            self.buffer: Any = torch.empty(
                (feeder.batch_size, *feeder.sample_shape), dtype=dtype, device=device
            )

        def get_batch_size(self) -> int:
            return feeder.batch_size

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = feeder.next_batch()
            if batch is None:
                return None
            self.buffer.copy_(torch.from_numpy(batch))
            torch.cuda.synchronize(device)
            return [int(self.buffer.data_ptr())]  # one input (checked when parsing)

        def read_calibration_cache(self) -> bytes | None:
            return cache_file.read_bytes() if cache_file.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            write_atomic(cache_file, bytes(cache))

        def release(self) -> None:
            self.buffer = None

    return EntropyCalibrator()
