"""The engine interface: load a model file, run a batch, describe yourself.

The measurement loop drives any engine through this interface and never knows which one
it holds. ``run`` is the hot path: an engine does the least possible work in it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class EngineError(Exception):
    """An engine cannot load or run a model; the message names the file and the problem."""


class EngineUnavailable(EngineError):
    """The engine's library (or the device it needs) is not installed on this machine."""


@dataclass(frozen=True)
class EngineInfo:
    name: str
    version: str
    device: str
    precision: str
    settings: dict[str, Any] = field(default_factory=dict)


class Engine(ABC):
    """Runs one model on one device. Create, ``load``, then ``run`` batches."""

    name: str = ""
    formats: tuple[str, ...] = ()
    #: True when ``run_prepared`` returns before the work is done (GPU streams): the
    #: single-stream loop then synchronises after every query to time it.
    needs_sync: bool = False

    @abstractmethod
    def load(self, path: Path) -> None:
        """Load the model file; raise EngineError with the file name on any problem."""

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

    def input_names(self) -> list[str]:
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model and its session."""
