"""The idle levels of a run on a GPU whose power steps up when the engine creates its
context: a fake NVML whose counter integrates 72 W until the engine loads and 122 W after
(the H100's figures: 71-73 W idle with no context, 118-124 W with one held)."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from ecoscore.benchmarks.registry import get_workload
from ecoscore.runners.benchmark import RunRequest, run_benchmark
from ecoscore.runners.host import describe_device
from ecoscore.runners.meters.nvml import NvmlEnergyCounterMeter, NvmlGpu
from tests.fakes import SleepConfig, SleepEngine
from tests.onnx_models import linear_classifier
from tests.test_meter_nvml import FakeNvml

DEVICE_IDLE_W, CONTEXT_W = 72.0, 122.0


class SteppingNvml(FakeNvml):
    """A GPU whose energy counter (mJ, updated every millisecond) integrates a power that
    the test can change: the counter never jumps when the power does."""

    def __init__(self, power_w: float) -> None:
        super().__init__(power_w=power_w, counter_period_s=0.001)
        self._lock = threading.Lock()
        self._energy_j = 0.0
        self._since = time.perf_counter()

    def set_power(self, watts: float) -> None:
        with self._lock:
            now = time.perf_counter()
            self._energy_j += self.power_w * (now - self._since)
            self._since, self.power_w = now, watts

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: object) -> int:
        with self._lock:
            now = time.perf_counter()
            tick = self.counter_period_s * int(now / self.counter_period_s)
            joules = self._energy_j + self.power_w * max(tick - self._since, 0.0)
        return 10_000_000 + int(joules * 1000)


class ContextEngine(SleepEngine):
    """Loading the model creates the 'CUDA context': the GPU's power steps up."""

    gpu: SteppingNvml

    def load(self, path: Path, hints: object = None) -> None:
        self.gpu.set_power(CONTEXT_W)
        super().load(path, hints)

    def close(self) -> None:
        self.gpu.set_power(DEVICE_IDLE_W)


def test_a_context_step_gives_device_idle_ready_idle_and_attributable(tmp_path: Path) -> None:
    fake = SteppingNvml(DEVICE_IDLE_W)
    meter = NvmlEnergyCounterMeter(NvmlGpu(0, nvml=fake))
    seen: list[float] = []

    def on_engine(engine: object) -> None:
        assert isinstance(engine, ContextEngine)
        engine.gpu = fake
        seen.append(fake.power_w)  # built, not yet loaded: still no context

    config = SleepConfig(device="cuda:0", input_shape=(None, 1, 8, 8), classes=10)
    config_type = type("ContextConfig", (SleepConfig,), {"build": lambda self: ContextEngine(self)})
    req = RunRequest(
        workload=get_workload("vision-digits"),
        model_path=linear_classifier(tmp_path / "m.onnx"),
        model_name="context-step",
        model_role="user",
        engine_config=config_type(**config.model_dump()),
        meter=meter,
        device=describe_device(),
        quick=True,
        repeats=3,
    )
    with meter:
        rec = run_benchmark(req, on_engine=on_engine)
    assert seen == [DEVICE_IDLE_W]
    levels = rec.idle_levels
    assert levels is not None
    assert levels.device.power_w == pytest.approx(DEVICE_IDLE_W, rel=0.02)
    assert levels.ready.power_w == pytest.approx(CONTEXT_W, rel=0.02)
    assert levels.ready_after.power_w == pytest.approx(CONTEXT_W, rel=0.02)
    for s in rec.scenarios:
        for w in s.windows:
            assert w.energy_j / w.duration_s == pytest.approx(CONTEXT_W, rel=0.03)  # gross
            # attributable: gross minus the device idle (72 W) over the window's time
            expected = w.energy_j - levels.device.power_w * w.duration_s
            assert w.attributable_energy_j == pytest.approx(expected, rel=1e-9)
            assert w.attributable_energy_j / w.duration_s == pytest.approx(
                CONTEXT_W - DEVICE_IDLE_W, rel=0.06
            )
            # net (today's "incremental"): above the ready idle, near zero for a sleeping engine
            assert abs(w.net_energy_j) < 0.06 * w.energy_j
    # what `score` shows: the levels, and the energy above each, per inference
    from ecoscore.commands.score import _level_lines
    from ecoscore.grading.energy_levels import energy_levels

    single = next(lv for lv in energy_levels(rec) if lv.scenario == "single_stream")
    assert single.device_idle_w == levels.device.power_w
    assert single.ready_idle_w == levels.ready.power_w
    assert single.attributable_j is not None and single.ready_overhead_j is not None
    assert single.ready_overhead_j == pytest.approx(single.attributable_j, rel=0.06)
    lines = _level_lines(rec)
    shown = re.match(r"  idle: device ([\d.]+) W .*, ready ([\d.]+) W before", lines[0])
    assert shown is not None, lines[0]
    assert float(shown.group(1)) == pytest.approx(DEVICE_IDLE_W, rel=0.02)
    assert float(shown.group(2)) == pytest.approx(CONTEXT_W, rel=0.02)
    assert "attributable" in lines[1] and "ready overhead" in lines[1]


def test_an_incremental_figure_below_the_resolution_is_not_shown() -> None:
    from ecoscore.grading.energy_levels import EnergyLevels

    def levels(incremental: float | None, resolution: float | None) -> EnergyLevels:
        return EnergyLevels(
            "single_stream", 72.0, 122.0, 121.0, 0.026, 0.0106, 0.0103, incremental, resolution
        )

    assert not levels(0.0003, 0.012).incremental_shown  # 40x below the resolution
    assert not levels(-0.0003, 0.012).incremental_shown
    assert levels(0.02, 0.012).incremental_shown
    assert levels(0.02, None).incremental_shown  # no periodic sensor: no resolution limit
    assert not levels(None, 0.012).incremental_shown
    assert levels(0.0003, 0.012).to_dict()["incremental_shown"] is False
