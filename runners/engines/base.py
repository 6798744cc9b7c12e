"""The engine interface: a typed config builds an engine; the engine loads a model file,
runs batches and describes itself.

Rules the rest of the code relies on:
- an engine is made only from its ``EngineConfig``: the command line builds the config, the
  record stores it (resolved: every default filled in), and ``reproduce`` rebuilds exactly
  the same engine from it;
- ``run_prepared`` is the hot path: the engine does the least possible work in it;
- what the loop and the record use is declared here (``input_meta``, ``parameter_count``,
  ``fallback_reason``, ``needs_sync``), so that no caller has to guess an attribute.

A new engine costs two files: its module (a config class and an engine class) and one
line in ``registry.ENGINES``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ecoscore.errors import InputError


class EngineError(InputError):
    """An engine cannot load or run a model; the message names the file and the problem."""


class EngineUnavailable(EngineError):
    """The engine's library (or the device it needs) is not installed on this machine."""


class EngineConfig(BaseModel):
    """The settings of one engine. Subclasses add their own fields and ``build``.

    ``threads`` is the number of CPU threads the engine may use (None: its default, resolved
    when the engine is made; the record keeps the resolved value).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Model file formats this engine loads (by file suffix, without the dot).
    formats: ClassVar[tuple[str, ...]] = ()

    engine: str
    device: str = "cpu"
    precision: str = "fp32"
    threads: int | None = Field(default=None, ge=1)

    @abstractmethod
    def build(self) -> Engine:
        """The engine these settings describe (its library is imported here, not before)."""


@dataclass(frozen=True)
class InputMeta:
    """What the loaded model takes: its input's name, shape (None or a name for a dynamic
    dimension) and numpy dtype name."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: str


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
        """Run one batch; return the model's primary output as a numpy array."""

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
