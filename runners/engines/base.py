"""The engine interface: a typed config builds an engine; the engine loads a model file,
runs batches and describes itself.

Rules the rest of the code relies on:
- an engine is made only from its ``EngineConfig``: the command line builds the config, the
  record stores it (resolved: every default filled in), and ``reproduce`` rebuilds exactly
  the same engine from it;
- ``run_prepared`` is the hot path: the engine does the least possible work in it;
- what the loop and the record use is declared here (``input_meta``, ``parameter_count``,
  ``fallback_reason``, ``needs_sync``), so that no caller has to guess an attribute;
- a call that does not return can be stopped from another thread (``abort``, when
  ``can_abort``), and the exceptions of the engine's own library are known
  (``libraries``): the watchdog (``ecoscore.runners.watchdog``) uses both;
- ``threads`` (and an engine's other ``tunable`` settings) may be ``"auto"``: the engine
  starts at its default, and the run chooses per scenario among simple settings
  (``ecoscore.runners.tuning``), switching them with ``apply_settings``;
- settings read from a record are validated against this machine
  (``EngineConfig.from_record``): thread counts are capped to its logical CPUs and
  settings that name a path (``path_settings``) are never taken from a record.

A new engine costs two files: its module (a config class and an engine class) and one
line in ``registry.ENGINES``.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from ecoscore.errors import InputError


class EngineError(InputError):
    """An engine cannot load or run a model; the message names the file and the problem."""


class EngineUnavailable(EngineError):
    """The engine's library (or the device it needs) is not installed on this machine."""


def machine_cpus() -> int:
    """The logical CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


#: Validation context of a config read from a record (``EngineConfig.from_record``).
FROM_RECORD = "from_record"


class EngineConfig(BaseModel):
    """The settings of one engine. Subclasses add their own fields and ``build``.

    ``threads`` is the number of CPU threads the engine may use (None: its default, resolved
    when the engine is made; the record keeps the resolved value; ``"auto"``: the engine
    starts at its default and the run tries the simple settings per scenario and keeps the
    best, ``ecoscore.runners.tuning``).

    ``output`` and ``layout`` are the model-interface choices a user declares (``ecoscore
    run --output NAME --layout NCHW``): which of the model's outputs to read, and the axes
    of its image input. None: decided from the model (runners/model_interface.py), and
    refused when that is ambiguous. Kept here so that the record stores them and
    ``reproduce`` runs the model the same way.
    A config read from a record (validated with the context ``{"from_record": True}``, as
    ``registry.config_from_record`` does) obeys this machine: every thread count
    (``thread_settings``) above its logical CPUs is capped to them, and a setting that
    names a path (``path_settings``) is not taken (its default is used); each change is
    said in the context's ``notes``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Model file formats this engine loads (by file suffix, without the dot).
    formats: ClassVar[tuple[str, ...]] = ()
    #: Settings that count CPU threads.
    thread_settings: ClassVar[tuple[str, ...]] = ("threads",)
    #: Settings that name a file or folder on the machine that made the config.
    path_settings: ClassVar[tuple[str, ...]] = ()
    #: Settings that may be ``"auto"`` (tried during warm-up, ``ecoscore.runners.tuning``)
    #: and that the engine changes on the fly with ``Engine.apply_settings``.
    tunable: ClassVar[tuple[str, ...]] = ()

    engine: str
    device: str = "cpu"
    precision: str = "fp32"
    threads: Annotated[int, Field(ge=1)] | Literal["auto"] | None = None
    output: str | None = None
    layout: Literal["NCHW", "NHWC"] | None = None

    @abstractmethod
    def build(self) -> Engine:
        """The engine these settings describe (its library is imported here, not before)."""

    @model_validator(mode="before")
    @classmethod
    def _this_machine(cls, data: Any, info: ValidationInfo) -> Any:
        context = info.context or {}
        if not context.get(FROM_RECORD) or not isinstance(data, dict):
            return data
        notes: list[str] = context.setdefault("notes", [])
        data = dict(data)
        for key in cls.path_settings:
            if data.get(key) is not None:
                notes.append(
                    f"engine setting {key}={data[key]!r} from the record is not used (a path "
                    "on the machine that made it is never opened here)"
                )
                del data[key]
        cpus = machine_cpus()
        for key in cls.thread_settings:
            value = data.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > cpus:
                notes.append(
                    f"engine setting {key}={value} from the record capped to this machine's "
                    f"{cpus} logical CPU(s)"
                )
                data[key] = cpus
        return data


@dataclass(frozen=True)
class InputMeta:
    """What the loaded model takes: its input's name, shape (None or a name for a dynamic
    dimension) and numpy dtype name."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: str


@dataclass(frozen=True)
class OutputMeta:
    """One output of the loaded model: name, shape (None or a name for a dynamic size) and
    dtype (a numpy dtype name; "str" for strings; the type's own name for sequences and
    maps, e.g. scikit-learn's ZipMap ``seq(map(int64,tensor(float)))``)."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: str


@dataclass(frozen=True)
class QuantParams:
    """An 8-bit tensor's quantisation, ``real = (q - zero_point) * scale``, and where in
    the model it was read."""

    scale: float
    zero_point: int
    dtype: str  # int8 | uint8
    where: str


@dataclass(frozen=True)
class LoadHints:
    """What the workload tells an engine before loading: the largest batch it will run, and
    where calibration samples come from (the training split, never the evaluation set)."""

    max_batch: int = 64
    calibration: Callable[[], np.ndarray] | None = None


@dataclass(frozen=True)
class EngineInfo:
    name: str
    version: str
    device: str
    precision: str
    settings: dict[str, Any] = field(default_factory=dict)


class Engine(ABC):
    """Runs one model on one device. Made from its config; ``load``, then ``run`` batches."""

    #: True when ``run_prepared`` returns before the work is done (GPU streams): the
    #: single-stream loop then synchronises after every query to time it.
    needs_sync: ClassVar[bool] = False
    #: True when ``abort`` stops a call in progress. Otherwise the watchdog interrupts the
    #: main thread, which stops engines that return to Python between operations.
    can_abort: ClassVar[bool] = False
    #: Top-level modules whose exceptions are this engine's own failures (turned into one
    #: line naming the model by the watchdog).
    libraries: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: EngineConfig) -> None:
        #: The settings in force, every default resolved (what the record keeps).
        self.config = config
        #: Why the engine runs differently from what was asked (e.g. a GPU provider that is
        #: not installed, so onnxruntime runs on the CPU); None when it runs as asked.
        self.fallback_reason: str | None = None
        #: Number of parameters of the loaded model, where the engine can count them.
        self.parameter_count: int | None = None

    @abstractmethod
    def load(self, path: Path, hints: LoadHints | None = None) -> None:
        """Load the model file; raise EngineError with the file name on any problem."""

    @abstractmethod
    def input_meta(self) -> InputMeta:
        """The loaded model's input (after ``load``)."""

    @abstractmethod
    def run(self, x: np.ndarray) -> np.ndarray:
        """Run one batch; return the selected output (``select_output``; by default the
        model's first) as a numpy array."""

    def output_metas(self) -> list[OutputMeta]:
        """The loaded model's outputs, where the engine can list them (else empty: the
        engine's first output is read, unchecked)."""
        return []

    def select_output(self, name: str) -> None:
        """Read output ``name`` from now on (one of ``output_metas``)."""
        raise EngineError(f"the {self.config.engine} engine cannot choose among outputs")

    def input_quantization(self) -> QuantParams | None:
        """For a model whose input is int8/uint8: the scale and zero point it expects, read
        from the model; for a float input quantized inside the graph: that quantisation
        (recorded only). None: not quantized, or not readable by this engine."""
        return None

    def output_quantization(self, name: str) -> QuantParams | None:
        """For an int8/uint8 output: its scale and zero point, read from the model."""
        return None

    def model_metadata(self) -> dict[str, str]:
        """What the model file says about itself (e.g. ONNX producer name and version)."""
        return {}

    @abstractmethod
    def info(self) -> EngineInfo: ...

    def prepare(self, x: np.ndarray) -> Any:
        """Convert a batch once, before timing, into what ``run_prepared`` takes.

        Engines whose inputs live elsewhere (a GPU) copy them here so that the timed loop
        measures inference, not the host-side conversion. Default: unchanged.
        """
        return x

    def run_prepared(self, x: Any) -> Any:
        """The timed call. Default: ``run``."""
        return self.run(x)

    def synchronize(self) -> None:  # noqa: B027 - optional hook
        """Wait until all submitted work is done (a no-op for synchronous engines)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model and its session."""

    def apply_settings(self, **settings: Any) -> None:
        """Run with these values of the config's ``tunable`` settings from now on (the model
        stays loaded, its output choice kept; ``config`` says the settings in force).
        Raise EngineError when a value is refused."""
        raise EngineError(f"the {self.config.engine} engine cannot change {sorted(settings)}")

    def owns(self, e: BaseException) -> bool:
        """Whether ``e``, raised while running the model, is a failure of this engine's
        library (by default: an exception defined in one of ``libraries``)."""
        module = type(e).__module__ or ""
        return module.split(".")[0] in self.libraries

    def abort(self) -> None:  # noqa: B027 - optional hook (with can_abort)
        """From another thread: make the call in progress, and every later one until
        ``resume``, stop with an error as soon as the engine can."""

    def resume(self) -> None:  # noqa: B027 - optional hook (with can_abort)
        """Let calls run again after ``abort``."""
