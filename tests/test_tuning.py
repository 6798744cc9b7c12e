"""``--threads auto``: the tuner tries every simple setting during warm-up, records each with
its figure and keeps the best by the stated criterion (runners/tuning.py).

The fake engine's speed depends on its settings, and time is injected: each call advances a
fake clock by the setting's cost, so the answer never depends on the machine's load."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pytest

from ecoscore.record import Tuning
from ecoscore.runners.engines.base import (
    Engine,
    EngineConfig,
    EngineError,
    EngineInfo,
    InputMeta,
    LoadHints,
)
from ecoscore.runners.meters.base import Measurement, Meter, MeterInfo, WindowReading
from ecoscore.runners.tuning import (
    CRITERION_ENERGY,
    CRITERION_LATENCY,
    CRITERION_TIME,
    Tuner,
    auto_settings,
    candidates,
    origin,
    search_space,
    thread_counts,
)

#: Seconds per call by (threads, spinning): 2 threads spinning is fastest.
COST = {(3, True): 1.0, (1, True): 24e-6, (1, False): 25e-6, (2, True): 20e-6, (2, False): 42e-6}
#: Watts by (threads, spinning): one thread draws far less, so it wins on energy.
WATTS = {(3, True): 1.0, (1, True): 5.0, (1, False): 4.0, (2, True): 10.0, (2, False): 8.0}


class FakeClock:
    def __init__(self) -> None:
        self.ns = 0
        self.joules = 0.0

    def now_ns(self) -> int:
        return self.ns

    def now_s(self) -> float:
        return self.ns / 1e9


class ThreadsConfig(EngineConfig):
    tunable: ClassVar[tuple[str, ...]] = ("threads", "spinning")
    engine: Literal["threads-fake"] = "threads-fake"
    spinning: bool | Literal["auto"] = True

    def build(self) -> Engine:
        raise AssertionError("built by the test")


class ThreadsEngine(Engine):
    """Each call costs COST[(threads, spinning)] of fake time and WATTS x that of energy;
    a thread count in ``refuse`` is refused like a library refusing a setting."""

    def __init__(
        self, config: ThreadsConfig, clock: FakeClock, refuse: tuple[int, ...] = (), start=2
    ) -> None:
        super().__init__(config.model_copy(update={"threads": start, "spinning": True}))
        self.clock, self.refuse = clock, refuse
        self.switches: list[dict[str, Any]] = []

    def key(self) -> tuple[int, bool]:
        return (self.config.threads, self.config.spinning)  # type: ignore[attr-defined]

    def load(self, path: Path, hints: LoadHints | None = None) -> None:
        pass

    def input_meta(self) -> InputMeta:
        return InputMeta("x", (None, 1), "float32")

    def run(self, x: np.ndarray) -> np.ndarray:
        cost = COST[self.key()]
        self.clock.ns += int(cost * 1e9)
        self.clock.joules += WATTS[self.key()] * cost
        return x

    def apply_settings(self, **settings: Any) -> None:
        if settings.get("threads") in self.refuse:
            raise EngineError(f"thread count {settings['threads']} refused")
        self.switches.append(settings)
        self.config = self.config.model_copy(update=settings)
        self.clock.ns += 5_000_000  # a new session costs 5 ms of wall time

    def info(self) -> EngineInfo:
        return EngineInfo("threads-fake", "0", "cpu", "fp32")


class FakeEnergyMeter(Meter):
    """Reads the engine's joules at the window edges; the sensor updates every 1 ms of
    fake time."""

    def __init__(self, clock: FakeClock, measured: bool = True, period_s: float = 1e-3) -> None:
        super().__init__()
        self.clock, self.period_s = clock, period_s
        kind = Measurement.MEASURED if measured else Measurement.ESTIMATED
        self.info = MeterInfo("fake", "test", "cpu-package", kind, period_s, 0.01)
        self._j0 = self._t0 = 0.0

    @property
    def config(self) -> Any:
        raise AssertionError("not recorded here")

    def _begin(self) -> None:
        self._j0, self._t0 = self.clock.joules, self.clock.now_s()

    def _end(self, duration_s: float) -> WindowReading:
        span = self.clock.now_s() - self._t0
        return WindowReading(self.clock.joules - self._j0, span, int(span / self.period_s))


def tune(meter_kind: str | None, scenario: str = "single_stream", refuse=(), start=2) -> Any:
    clock = FakeClock()
    requested = ThreadsConfig(threads="auto", spinning="auto")
    engine = ThreadsEngine(requested, clock, refuse, start)
    meter = None if meter_kind is None else FakeEnergyMeter(clock, meter_kind == "measured")
    tuner = Tuner(
        engine, requested, meter, budget_s=0.4, rounds=2, cpus=2,
        clock_ns=clock.now_ns, wall=clock.now_s,
    )  # fmt: skip
    batches = [np.zeros((1, 1), np.float32)] * 4
    return tuner.run(batches, 1, scenario), engine


def test_candidates_cover_every_simple_setting():
    assert thread_counts(2) == [1, 2]
    assert thread_counts(8) == list(range(1, 9))
    assert thread_counts(48) == [1, 2, 4, 8, 16, 32, 48]
    space = search_space(ThreadsConfig(threads="auto", spinning="auto"), cpus=2)
    assert candidates(space) == [
        {"threads": 1, "spinning": True},
        {"threads": 1, "spinning": False},
        {"threads": 2, "spinning": True},
        {"threads": 2, "spinning": False},
    ]
    # a setting the user gave is not tried
    assert search_space(ThreadsConfig(threads="auto", spinning=False), cpus=2) == {
        "threads": [1, 2]
    }
    assert search_space(ThreadsConfig(threads=2), cpus=2) == {}


def test_without_a_sensor_auto_picks_the_lowest_latency_and_records_every_setting():
    tuning, engine = tune(None)
    assert isinstance(tuning, Tuning)
    assert tuning.mode == "auto" and tuning.criterion == CRITERION_LATENCY
    assert "no energy sensor" in (tuning.criterion_reason or "")
    assert tuning.chosen == {"threads": 2, "spinning": True}
    assert engine.key() == (2, True)  # the engine is left at the choice
    assert [t.settings for t in tuning.trials] == candidates(search_space(engine.config, 2) or {
        "threads": [1, 2], "spinning": [True, False]})  # fmt: skip
    by = {(t.settings["threads"], t.settings["spinning"]): t for t in tuning.trials}
    for key, cost in list(COST.items())[1:]:
        assert by[key].latency_p50_s == pytest.approx(cost, rel=1e-6)
        assert by[key].time_per_inference_s == pytest.approx(cost, rel=1e-3)
        assert by[key].queries >= 2 * 5 and by[key].failed is None
        assert by[key].energy_per_inference_j is None
    assert tuning.rounds == 2 and tuning.budget_s == 0.4
    # measuring took the budget; switching (5 ms each) is counted in the time spent
    assert 0.4 <= tuning.spent_s < 0.4 + 9 * 0.006 + 0.01
    assert tuning.origin == {"threads": "auto", "spinning": "auto"}


def test_with_a_measured_sensor_auto_picks_the_lowest_energy_per_inference():
    tuning, engine = tune("measured")
    assert tuning.criterion == CRITERION_ENERGY
    # J/inference = W x s: (1, True) 120 uJ, (1, False) 100 uJ, (2, True) 200, (2, False) 336
    assert tuning.chosen == {"threads": 1, "spinning": False}
    by = {(t.settings["threads"], t.settings["spinning"]): t for t in tuning.trials}
    for key, cost in list(COST.items())[1:]:
        assert by[key].energy_per_inference_j == pytest.approx(WATTS[key] * cost, rel=1e-3)
        assert by[key].sensor_updates >= 95  # 2 slots of 0.05 s, 1 ms updates, less rounding


def test_an_estimated_meter_never_decides_by_energy():
    tuning, _ = tune("estimated")
    assert tuning.criterion == CRITERION_LATENCY
    assert tuning.chosen == {"threads": 2, "spinning": True}


def test_offline_picks_the_lowest_time_per_inference():
    tuning, _ = tune(None, scenario="offline")
    assert tuning.criterion == CRITERION_TIME
    assert tuning.chosen == {"threads": 2, "spinning": True}


def test_a_refused_setting_is_recorded_as_failed_not_dropped():
    tuning, _ = tune(None, refuse=(2,))
    failed = [t for t in tuning.trials if t.failed]
    assert [t.settings["threads"] for t in failed] == [2, 2]
    assert all("refused by the engine: thread count 2 refused" in t.failed for t in failed)
    assert len(tuning.trials) == 4
    assert tuning.chosen == {"threads": 1, "spinning": True}


def test_every_setting_refused_is_one_error():
    with pytest.raises(EngineError, match="no engine setting could be run"):
        tune(None, refuse=(1, 2), start=3)


def test_the_time_bound_stops_tuning_and_says_so():
    clock = FakeClock()
    requested = ThreadsConfig(threads="auto", spinning="auto")
    engine = ThreadsEngine(requested, clock)
    engine.apply_settings = lambda **s: (  # type: ignore[method-assign]
        setattr(engine, "config", engine.config.model_copy(update=s)),
        setattr(clock, "ns", clock.ns + 2_000_000_000),  # a 2 s session build
    )
    tuner = Tuner(engine, requested, None, budget_s=0.4, rounds=1, cpus=2,
                  clock_ns=clock.now_ns, wall=clock.now_s)  # fmt: skip
    tuning = tuner.run([np.zeros((1, 1), np.float32)], 1)
    tried = [t for t in tuning.trials if t.failed is None]
    skipped = [t for t in tuning.trials if t.failed]
    assert tried and skipped
    assert all("time bound (1.2 s) was reached" in t.failed for t in skipped)


def test_origin_and_auto_defaults():
    assert origin(ThreadsConfig(threads=3)) == {
        "threads": "user-chosen",
        "spinning": "engine-default",
    }
    assert origin(ThreadsConfig()) == {"threads": "engine-default", "spinning": "engine-default"}
    # nothing given on the CPU: every tunable setting is auto
    assert auto_settings(ThreadsConfig, "cpu", {}) == {"threads": "auto", "spinning": "auto"}
    # spinning given: only threads are tuned
    assert auto_settings(ThreadsConfig, "cpu", {"spinning": False}) == {
        "threads": "auto",
        "spinning": False,
    }
    # an explicit thread count: nothing tuned
    assert auto_settings(ThreadsConfig, "cpu", {"threads": 2}) == {"threads": 2}
    # a GPU run is tuned only when asked
    assert auto_settings(ThreadsConfig, "cuda", {}) == {}
    assert auto_settings(ThreadsConfig, "cuda", {"threads": "auto"}) == {
        "threads": "auto",
        "spinning": "auto",
    }


def _tuned_record(tuning: Tuning, ran: dict[str, Any] | None = None):
    from tests.record_factory import make_record

    rec = make_record()
    config = {"engine": "threads-fake", **(ran or tuning.chosen)}
    scenarios = [
        s.model_copy(update={"tuning": tuning, "engine_config": config}) for s in rec.scenarios
    ]
    return rec.model_copy(update={"scenarios": scenarios}).with_id()


def _rule_findings(rec) -> list[str]:
    from ecoscore.checks import check_record

    return [
        f.message for f in check_record(rec).findings if f.rule == "settings-chosen-as-recorded"
    ]


def test_trust_rule_accepts_a_tuned_record_and_catches_a_choice_that_is_not_the_best():
    tuning, _ = tune(None)
    assert _rule_findings(_tuned_record(tuning)) == []
    worse = tuning.model_copy(update={"chosen": {"threads": 1, "spinning": True}})
    (msg, *_) = _rule_findings(_tuned_record(worse))
    assert "has latency_p50_s 2.4e-05, but a setting tried had 2e-05" in msg
    untried = tuning.model_copy(update={"chosen": {"threads": 7, "spinning": True}})
    assert "is not among those measured" in _rule_findings(_tuned_record(untried))[0]
    ran_other = _tuned_record(tuning, ran={"threads": 1, "spinning": True})
    assert "ran with {'threads': 1, 'spinning': True}" in _rule_findings(ran_other)[0]


# -- end to end: `ecoscore run` and `ecoscore reproduce` on a real onnxruntime model ------


def _run(tmp_path, name: str, *args: str):
    from typer.testing import CliRunner

    from ecoscore.cli import app
    from ecoscore.record import load_record
    from tests.onnx_models import linear_classifier

    model = linear_classifier(tmp_path / "my.onnx")
    out = tmp_path / name
    res = CliRunner().invoke(
        app,
        ["run", "-w", "vision-digits", "--model", str(model), "--quick", "--repeats", "1",
         "--out", str(out), *args],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    (path,) = sorted((out / "runs").glob("*.json"))
    return load_record(path), path


def test_run_tunes_each_scenario_by_default_and_reproduce_fixes_the_choice(
    tmp_path, no_sensors, monkeypatch
):
    from typer.testing import CliRunner

    from ecoscore.checks import check_record
    from ecoscore.cli import app
    from ecoscore.record import load_record
    from ecoscore.runners.engines.base import machine_cpus

    rec, path = _run(tmp_path, "auto")
    cpus = machine_cpus()
    expected = candidates({"threads": thread_counts(cpus), "spinning": [True, False]})
    for s in rec.scenarios:
        t = s.tuning
        assert t is not None and t.mode == "auto" and t.rounds == 1  # quick: one pass
        assert [tr.settings for tr in t.trials] == expected
        assert all(tr.failed is None and tr.queries >= 5 for tr in t.trials)
        assert t.criterion == (CRITERION_LATENCY if s.name == "single_stream" else CRITERION_TIME)
        assert t.budget_s == pytest.approx(0.4)  # 2 x the quick warm-up
        assert {k: s.engine_config[k] for k in t.chosen} == t.chosen
    assert "settings-chosen-as-recorded" not in check_record(rec).failed_rules()
    assert rec.engine.config["threads"] == cpus  # the quality pass ran at the defaults

    # reproduce runs each scenario with the recorded choice, as user-chosen
    out = tmp_path / "again"
    model = tmp_path / "my.onnx"
    res = CliRunner().invoke(
        app, ["reproduce", str(path), "--model", str(model), "--out", str(out)]
    )
    # 8: not replicated. Both runs' energy is a CodeCarbon ESTIMATE, which follows the
    # machine's load (load cubed): on a shared machine it may differ beyond the tolerance.
    # What is checked here is the settings the replication ran with, not its energy.
    assert res.exit_code in (0, 6, 8), res.output
    (again,) = sorted((out / "runs").glob("*.json"))
    rep = load_record(again)
    for s, original in zip(rep.scenarios, rec.scenarios, strict=True):
        assert s.tuning.mode == "user-chosen" and s.tuning.trials == []
        assert s.tuning.chosen == original.tuning.chosen


def test_explicit_settings_are_used_as_given(tmp_path, no_sensors):
    from ecoscore.runners.engines.base import machine_cpus

    rec, _ = _run(tmp_path, "one", "--threads", "1")
    for s in rec.scenarios:
        assert s.tuning.mode == "user-chosen" and s.tuning.trials == []
        assert s.tuning.origin == {"threads": "user-chosen", "spinning": "engine-default"}
        assert s.engine_config["threads"] == 1 and s.engine_config["spinning"] is True
    rec, _ = _run(tmp_path, "nospin", "--no-spinning")
    for s in rec.scenarios:
        assert s.tuning.mode == "auto"
        assert s.tuning.origin == {"threads": "auto", "spinning": "user-chosen"}
        assert [tr.settings for tr in s.tuning.trials] == [{"threads": n} for n in thread_counts(
            machine_cpus())]  # fmt: skip
        assert s.engine_config["spinning"] is False


def test_threads_option_is_a_count_or_auto():
    from ecoscore.commands.run import parse_threads
    from ecoscore.errors import UsageError

    assert parse_threads("auto") == "auto" and parse_threads("3") == 3
    for bad in ("0", "-1", "many"):
        with pytest.raises(UsageError, match="a thread count of at least 1, or auto"):
            parse_threads(bad)
