"""The measurement loop against a fake engine and a fake meter whose power is known."""

import numpy as np
import pytest

from ecoscore.runners.loop import ScenarioSettings, measure_idle, measure_scenario
from ecoscore.runners.meters.base import WindowReading
from tests.fakes import ConstantPowerMeter, SleepEngine


def settings(name="single_stream", batch=1, dur=0.2, queries=5, reps=3, quick=False):
    return ScenarioSettings(name, batch, dur, queries, 0.05, reps, quick)


def test_single_stream_windows_meet_minimums_and_energy_is_power_times_time():
    eng = SleepEngine(0.002)
    meter = ConstantPowerMeter(10.0)
    batches = [np.zeros((1, 4), np.float32)]
    res = measure_scenario(eng, meter, batches, settings(), idle_power_w=2.0)
    assert len(res.windows) == 3 and res.valid
    for w in res.windows:
        assert w.duration_s >= 0.2
        assert w.queries >= 5 and w.inferences == w.queries
        assert w.energy_j == pytest.approx(10.0 * w.duration_s)
        assert w.net_energy_j == pytest.approx(8.0 * w.duration_s)
    # latency of a 2 ms sleep, measured per query
    assert 2.0 <= res.latency.p50_ms < 4.0
    assert res.latency.count == sum(w.queries for w in res.windows)
    # energy per inference = 10 W x latency
    assert res.energy_per_inference_j.median == pytest.approx(
        10.0 * np.median([w.duration_s / w.queries for w in res.windows]), rel=1e-6
    )
    # warm-up calls happened but are not counted in any window
    assert eng.calls > sum(w.queries for w in res.windows)


def test_min_queries_extends_a_window_beyond_min_duration():
    eng = SleepEngine(0.001)
    res = measure_scenario(
        eng,
        ConstantPowerMeter(5.0),
        [np.zeros((1, 1), np.float32)],
        settings(dur=0.001, queries=200, reps=1),
        0.0,
    )
    assert res.windows[0].queries >= 200
    assert res.windows[0].duration_s >= 0.2


def test_offline_counts_batch_inferences():
    eng = SleepEngine(0.001)
    res = measure_scenario(
        eng,
        ConstantPowerMeter(5.0),
        [np.zeros((8, 1), np.float32)],
        settings("offline", batch=8, dur=0.1, queries=10, reps=2),
        0.0,
    )
    assert res.latency is None
    for w in res.windows:
        assert w.inferences == 8 * w.queries
    thr = [w.inferences / w.duration_s for w in res.windows]
    assert res.throughput_per_s.median == pytest.approx(np.median(thr))


def test_window_is_lengthened_for_a_slow_meter_but_not_in_quick_mode():
    meter = ConstantPowerMeter(1.0, period_s=0.005)  # needs 100 x 5 ms = 0.5 s
    eng = SleepEngine(0.0)
    res = measure_scenario(
        eng, meter, [np.zeros((1, 1), np.float32)], settings(dur=0.1, reps=1), 0.0
    )
    assert res.min_duration_s == pytest.approx(0.55)  # 1.1 x 100 x 5 ms
    assert res.windows[0].duration_s >= 0.5
    quick = measure_scenario(
        eng, meter, [np.zeros((1, 1), np.float32)], settings(dur=0.1, reps=1, quick=True), 0.0
    )
    assert quick.min_duration_s == pytest.approx(0.1)
    assert quick.windows[0].details.get("too_few_sensor_updates") is True


def test_a_full_window_with_too_few_observed_sensor_updates_is_invalid():
    class LazySensor(ConstantPowerMeter):
        def _end(self, duration_s):
            return WindowReading(duration_s, duration_s, 99)  # one short of 100

    meter = LazySensor(1.0, period_s=0.001)
    batches = [np.zeros((1, 1), np.float32)]
    full = measure_scenario(SleepEngine(0.0), meter, batches, settings(dur=0.01, reps=3), 0.0)
    assert [w.valid for w in full.windows] == [False] * 3
    assert "seen to update 99 times in the window, fewer than the 100" in str(
        full.windows[0].invalid_reason
    )
    assert full.energy_per_inference_j is None  # no figure from windows that are not valid
    quick = measure_scenario(
        SleepEngine(0.0), meter, batches, settings(dur=0.01, reps=1, quick=True), 0.0
    )
    assert quick.windows[0].valid and quick.windows[0].details["too_few_sensor_updates"]


def test_invalid_window_gives_no_energy_figure():
    class FailingMeter(ConstantPowerMeter):
        def _end(self, duration_s):
            return WindowReading(0.0, duration_s, None, valid=False, invalid_reason="sensor gone")

    res = measure_scenario(
        SleepEngine(0.0),
        FailingMeter(1.0),
        [np.zeros((1, 1), np.float32)],
        settings(dur=0.05, reps=2),
        0.0,
    )
    assert not res.valid
    assert res.energy_per_inference_j is None
    assert all(w.invalid_reason == "sensor gone" for w in res.windows)


def test_idle_baseline_power():
    idle = measure_idle(ConstantPowerMeter(3.0), 0.1)
    assert idle.valid and idle.power_w == pytest.approx(3.0)
    assert idle.duration_s >= 0.1


def test_windows_end_on_time_not_on_a_query_count():
    from ecoscore.benchmarks.base import QUICK, ScenarioDefaults

    d = ScenarioDefaults()
    assert d.single_stream_min_queries == 1 and d.offline_min_queries == 1
    assert QUICK.single_stream_min_queries == 1 and QUICK.offline_min_queries == 1
    eng = SleepEngine(0.005)
    res = measure_scenario(
        eng,
        ConstantPowerMeter(1.0),
        [np.zeros((4, 1), np.float32)],
        settings("offline", batch=4, dur=0.05, queries=1, reps=2),
        0.0,
    )
    for w in res.windows:  # about 10 batches of 5 ms, not thousands
        assert 0.05 <= w.duration_s < 0.2 and 1 <= w.queries < 40


def test_a_slow_query_that_crosses_the_deadline_completes():
    eng = SleepEngine(0.03)
    res = measure_scenario(
        eng,
        ConstantPowerMeter(1.0),
        [np.zeros((1, 1), np.float32)],
        settings(dur=0.01, queries=1, reps=1),
        0.0,
    )
    assert res.windows[0].queries == 1 and res.windows[0].duration_s >= 0.03


def test_preallocation_follows_the_warm_up_pace_and_overflow_appends():
    from ecoscore.runners.loop import MAX_PREALLOCATED, _single_stream_window, expected_queries

    assert expected_queries(10.0, 0.001, 1) == int(1.25 * 10_000 + 16)
    assert expected_queries(10.0, 1e-9, 1) == MAX_PREALLOCATED
    assert expected_queries(0.0, 0.01, 50) == 50
    eng = SleepEngine(0.001)
    batches = [np.zeros((1, 1), np.float32)]
    lat, n = _single_stream_window(eng, batches, int(0.05e9), 1, False, capacity=3)
    assert n > 3 and lat.shape == (n,)  # ran past the preallocated 3 by appending
    lat, n = _single_stream_window(eng, batches, 0, 5, False, capacity=1000)
    # the deadline is checked once per chunk (1000 // 256 = 3 queries): 5 or 6 queries run,
    # and the preallocated list is cut to what ran
    assert n == 6 and lat.shape == (6,)
    lat, n = _single_stream_window(eng, batches, 0, 5, False)  # capacity = min_queries
    assert n == 5 and lat.shape == (5,)
