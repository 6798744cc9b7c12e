"""A fake engine and a fake meter, complete plug-ins (config class and implementation), for
tests of the loop, the run command and the plug-in registries. The engine sleeps a fixed
time per call and returns its input; the meter reports a known constant power."""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from ecoscore.runners.engines.base import Engine, EngineConfig, EngineInfo, InputMeta, LoadHints
from ecoscore.runners.meters.base import (
    Measurement,
    Meter,
    MeterConfig,
    MeterInfo,
    WindowReading,
)


class SleepConfig(EngineConfig):
    formats: ClassVar[tuple[str, ...]] = ("onnx",)

    engine: Literal["sleep"] = "sleep"
    seconds: float = 0.0
    #: The input the fake model takes (None: any batch) and, when given, the number of
    #: class scores it returns (the scores favour class ``argmax`` of the input's sum).
    input_shape: tuple[int | None, ...] = (None, 4)
    classes: int | None = None

    def build(self) -> SleepEngine:
        return SleepEngine(self)


class SleepEngine(Engine):
    """Each call sleeps ``seconds`` and counts itself; the output is the input."""

    def __init__(self, config: SleepConfig | float = 0.0) -> None:
        if not isinstance(config, SleepConfig):
            config = SleepConfig(seconds=float(config))
        super().__init__(config)
        self.seconds = config.seconds
        self.calls = 0
        self.loaded: Path | None = None
        self.meta = InputMeta("input", config.input_shape, "float32")
        self.classes = config.classes

    def load(self, path: Path, hints: LoadHints | None = None) -> None:
        self.loaded = Path(path)

    def input_meta(self) -> InputMeta:
        return self.meta

    def run(self, x: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.seconds:
            time.sleep(self.seconds)
        if self.classes is None:
            return x
        flat = x.reshape(len(x), -1)
        scores = np.zeros((len(x), self.classes), np.float32)
        scores[np.arange(len(x)), (flat.sum(1) * 7).astype(int) % self.classes] = 1.0
        return scores

    def info(self) -> EngineInfo:
        return EngineInfo("sleep", "0", self.config.device, "fp32", {"seconds": self.seconds})


class ConstantConfig(MeterConfig):
    """a constant-power test meter"""

    meter: Literal["constant"] = "constant"
    watts: float = 10.0
    period_s: float | None = None

    @classmethod
    def from_spec(cls, arg: str | None, device: str, boundary: str | None) -> ConstantConfig:
        return cls(watts=float(arg)) if arg else cls()

    def build(self) -> ConstantPowerMeter:
        return ConstantPowerMeter(self.watts, self.period_s)


class ConstantPowerMeter(Meter):
    """Reports a known power: energy = watts x window duration."""

    def __init__(self, watts: float, period_s: float | None = None) -> None:
        super().__init__()
        self.watts = watts
        self.period_s = period_s
        self.windows = 0
        self.info = MeterInfo(
            "constant", "test", "cpu-package", Measurement.MEASURED, period_s, 0.01
        )

    @property
    def config(self) -> ConstantConfig:
        return ConstantConfig(watts=self.watts, period_s=self.period_s)

    def _begin(self) -> None:
        self.windows += 1

    def _end(self, duration_s: float) -> WindowReading:
        p = self.info.sampling_period_s
        updates = None if p is None else int(duration_s / p)
        return WindowReading(self.watts * duration_s, duration_s, updates)
