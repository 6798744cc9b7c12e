"""The engine's empty-call floor (runners/empty_call.py): the do-nothing models are
identities for each engine format, the timing follows the scenario's rules (checked with
an injected clock), every record of a run carries a floor per scenario, a floor that
cannot be measured says why, records without a floor keep their form and their id, and
``ecoscore score`` shows it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecoscore.record import EmptyCall, RunRecord, load_record, record_json, save_record
from ecoscore.runners.empty_call import (
    MIN_CALLS,
    energy_note,
    identity_onnx,
    identity_pt2,
    measure_empty_calls,
    time_calls,
)
from ecoscore.runners.engines.registry import engine_config, make_engine
from tests.fakes import SleepConfig, SleepEngine
from tests.record_factory import make_record
from tests.run_helpers import quick_record


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_the_onnx_identity_returns_its_input_at_any_batch(tmp_path, dtype):
    sample = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(dtype)
    path = identity_onnx(tmp_path / "id.onnx", sample)
    engine = make_engine("onnxruntime", threads=1)
    engine.load(path)
    assert engine.input_meta().shape[1:] == (3, 4)
    for batch in (1, 7):
        x = np.resize(sample, (batch, 3, 4))
        np.testing.assert_array_equal(engine.run(x), x)


def test_the_onnx_identity_takes_text_inputs(tmp_path):
    x = np.array([["turn the lights on"], ["what time is it"]], dtype=object)
    engine = make_engine("onnxruntime", threads=1)
    engine.load(identity_onnx(tmp_path / "id.onnx", x))
    np.testing.assert_array_equal(engine.run(x), x)


def test_the_pt2_identity_returns_its_input_through_both_call_paths(tmp_path):
    pytest.importorskip("torch", reason="the torch extra is not installed")
    sample = np.random.default_rng(0).random((2, 1, 8, 8)).astype(np.float32)
    path = identity_pt2(tmp_path / "id.pt2", sample)
    for call_path in ("graph", "module"):
        engine = make_engine("torch", threads=1, call_path=call_path)
        engine.load(path)
        assert engine.call_path == call_path
        for batch in (1, 5):
            x = np.resize(sample, (batch, 1, 8, 8))
            np.testing.assert_array_equal(engine.run(x), x)


class StepClock:
    """A clock that advances ``step_ns`` for every engine call (and not otherwise)."""

    def __init__(self, step_ns: int) -> None:
        self.now, self.step = 1_000_000, step_ns

    def __call__(self) -> int:
        return self.now


class ClockedEngine(SleepEngine):
    """A fake engine whose calls move the injected clock; it may need a sync per call."""

    def __init__(self, clock: StepClock, needs_sync: bool = False) -> None:
        super().__init__(SleepConfig())
        self.clock, self.syncs = clock, 0
        self.needs_sync = needs_sync  # type: ignore[misc]

    def run_prepared(self, x):
        self.calls += 1
        self.clock.now += self.clock.step
        return x

    def synchronize(self) -> None:
        self.syncs += 1


def test_single_stream_floor_times_each_call_and_syncs_like_its_queries():
    clock = StepClock(5_000)  # 5 us per call
    engine = ClockedEngine(clock, needs_sync=True)
    calls, spent, mean, median = time_calls(engine, [0, 1], 0.001, 0.0001, True, clock)
    assert calls == 200 and spent == pytest.approx(0.001)  # 1 ms of 5 us calls
    assert mean == pytest.approx(5e-6) and median == pytest.approx(5e-6)
    assert engine.calls == 20 + 200  # 0.1 ms of warm-up, then the timed calls
    assert engine.syncs == 1 + 200  # after the warm-up, then after every timed call


def test_offline_floor_is_a_mean_over_back_to_back_calls_synced_at_the_end():
    clock = StepClock(40_000)
    engine = ClockedEngine(clock, needs_sync=True)
    calls, spent, mean, median = time_calls(engine, [0], 0.0001, 0.0, False, clock)
    assert calls == MIN_CALLS  # 0.1 ms is 3 calls: the floor still times MIN_CALLS
    assert mean == pytest.approx(40e-6) and median is None
    assert engine.syncs == 2  # after the warm-up and at the end


def test_a_floor_the_engine_cannot_run_says_why(tmp_path):
    x = np.zeros((4, 1, 8, 8), np.float32)
    cfg = engine_config("onnxruntime", threads=1)
    floors = measure_empty_calls(cfg, "tflite", x, {"single_stream": 1, "offline": 4}, True)
    assert set(floors) == {"single_stream", "offline"}
    for name, ec in floors.items():
        assert ec.mean_call_s is None and ec.calls == 0
        assert "do-nothing model did not run" in ec.unavailable_reason
        assert "tflite" in ec.unavailable_reason
        assert ec.batch_size == {"single_stream": 1, "offline": 4}[name]


def test_the_energy_note_names_what_the_meter_needs():
    from ecoscore.runners.meters.codecarbon_estimate import CodeCarbonCpuEstimate
    from tests.fakes import ConstantPowerMeter

    assert "does not measure" in energy_note(0.25, CodeCarbonCpuEstimate())
    assert "does not measure" in energy_note(0.25, None)
    rapl_like = ConstantPowerMeter(10.0, period_s=0.001)  # 100 updates x 1.1: 0.11 s
    slow = ConstantPowerMeter(10.0, period_s=0.1)  # 11 s
    assert "timed only" in energy_note(0.25, rapl_like)
    assert energy_note(0.25, slow) == (
        "not measured: the floor runs 0.25 s per scenario, under the 11 s the meter "
        "(constant) needs to observe enough sensor updates"
    )


def test_a_run_records_the_floor_of_each_scenario_and_score_shows_it(tmp_path):
    rec = quick_record(tmp_path, repeats=1)
    for sc in rec.scenarios:
        ec = sc.empty_call
        assert ec is not None and ec.unavailable_reason is None, sc.name
        assert ec.batch_size == sc.batch_size
        assert ec.model == "identity (onnx) through onnxruntime"
        assert ec.calls >= MIN_CALLS and ec.mean_call_s > 0
        assert (ec.median_call_s is not None) == (sc.name == "single_stream")
        assert ec.energy_per_call_j is None and "does not measure" in ec.energy_note
    path = save_record(rec, tmp_path / "out")
    again = load_record(path)  # its record_id checks over the floor too
    assert again.scenarios[0].empty_call == rec.scenarios[0].empty_call

    from ecoscore.commands.score import floor_text

    text = floor_text(again)
    assert text.startswith("single-stream ") and "; offline " in text
    assert "of the model's" in text and "time only" in text


def test_a_record_without_a_floor_keeps_its_form_and_id(tmp_path):
    rec = make_record().with_id()
    doc = json.loads(record_json(rec))
    assert all("empty_call" not in sc for sc in doc["scenarios"])
    assert RunRecord.model_validate(doc).content_sha256() == rec.record_id
    from ecoscore.commands.score import floor_text

    assert floor_text(rec) == ""


def test_score_shows_the_floor_line(tmp_path):
    import typer
    from typer.testing import CliRunner

    from ecoscore.commands import label as label_cmd
    from ecoscore.commands import score as score_cmd

    rec = make_record()
    floor = EmptyCall(
        model="identity (onnx) through onnxruntime",
        batch_size=1,
        calls=1000,
        duration_s=0.25,
        mean_call_s=6e-6,
        median_call_s=5e-6,
        energy_note="not measured",
    )
    scenarios = [
        sc.model_copy(update={"empty_call": floor}) if sc.name == "single_stream" else sc
        for sc in rec.scenarios
    ]
    rec = rec.model_copy(update={"scenarios": scenarios}).with_id()
    path = save_record(rec, tmp_path)
    app = typer.Typer()
    score_cmd.register(app)
    label_cmd.register(app)  # two commands: typer keeps "score" as a subcommand
    res = CliRunner().invoke(app, ["score", str(path)], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "engine floor: single-stream 5 µs per call (median, batch 1" in res.stdout
