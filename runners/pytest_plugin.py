"""pytest plugin: ``eco_benchmark``, pytest-benchmark's ``benchmark`` with joules per call.

Use it in a pytest-benchmark suite exactly like ``benchmark``::

    def test_predict(eco_benchmark):
        eco_benchmark(model.predict, x)

The benchmark's rounds (calibration, warm-up and measured rounds) run inside one meter
window. If that window is shorter than the meter needs (``Meter.min_window_s()``, at least
``--eco-min-window-s``), the function keeps being called, untimed, until it is long enough.
Energy per call is the window's mean power times pytest-benchmark's mean time per call, so
the timed rounds are not touched: no wrapper, no counter in the timed path. The result lands
in pytest-benchmark's ``extra_info`` (and so in ``--benchmark-json``): ``joules_per_call``,
``net_joules_per_call`` (above the idle baseline), ``energy_measurement`` (MEASURED or
ESTIMATED), ``energy_boundary`` and the meter's source, period and uncertainty.

``eco_benchmark.write_record(workload=..., model_path=..., quality=...)`` writes an ecoscore
run record for the measured function into ``--eco-record-dir``.

Options: ``--eco-meter`` (a ``--meter`` spec of ``ecoscore run``; default auto: the best
MEASURED source of this machine, else the CodeCarbon ESTIMATE, with the reason recorded),
``--eco-idle-s`` (idle baseline, measured once per session), ``--eco-min-window-s``,
``--eco-record-dir``. The meter is opened once per session, on first use, so that a suite
that does not use the fixture pays nothing; heavy imports wait until then as well.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ecoscore.record import IdleBaseline, RunRecord
    from ecoscore.runners.meters.base import Meter, WindowReading

#: A window is extended with untimed calls for at most this long, whatever the meter asks
#: (a meter with a very slow sensor, or an external log with sparse samples); a window
#: shorter than the meter needs is flagged ``window_too_short``.
MAX_EXTENSION_S = 60.0
#: How energy per call is obtained (written into extra_info so that a reader knows).
ATTRIBUTION = "window mean power x pytest-benchmark mean time per call"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ecoscore", "ecoscore energy measurement (eco_benchmark fixture)")
    group.addoption(
        "--eco-meter",
        default="auto",
        help="meter spec as for `ecoscore run --meter` (auto, rapl, nvml, jetson, rpi, "
        "csv:PATH, estimate, ...); default: auto",
    )
    group.addoption(
        "--eco-idle-s",
        type=float,
        default=1.0,
        help="seconds of idle baseline measured once per session (0: none); default 1.0",
    )
    group.addoption(
        "--eco-min-window-s",
        type=float,
        default=1.0,
        help="shortest meter window per benchmark, extended with untimed calls; default 1.0",
    )
    group.addoption(
        "--eco-record-dir",
        default=None,
        help="folder where eco_benchmark.write_record() writes run records (runs/<id>.json)",
    )


@dataclass
class EcoSession:
    """The meter shared by all eco_benchmark tests of a session, and its idle baseline."""

    meter: Meter
    requested: str
    fallback_reason: str | None
    idle: IdleBaseline | None
    min_window_s: float
    record_dir: Path | None


def open_meter(spec: str) -> tuple[Meter, str | None]:
    """The meter for ``spec`` (ecoscore.runners.meters.registry) and why it fell back, if it did."""
    from ecoscore.runners.meters.registry import make_meter

    return make_meter(spec)


@pytest.fixture(scope="session")
def eco_session(pytestconfig: pytest.Config) -> Iterator[EcoSession]:
    from ecoscore.runners.loop import measure_idle

    spec = pytestconfig.getoption("--eco-meter")
    meter, reason = open_meter(spec)
    meter.start()
    try:
        idle_s = float(pytestconfig.getoption("--eco-idle-s"))
        idle = measure_idle(meter, max(idle_s, meter.min_window_s())) if idle_s > 0 else None
        record_dir = pytestconfig.getoption("--eco-record-dir")
        yield EcoSession(
            meter=meter,
            requested=spec,
            fallback_reason=reason,
            idle=idle,
            min_window_s=max(float(pytestconfig.getoption("--eco-min-window-s")), 0.0),
            record_dir=Path(record_dir) if record_dir else None,
        )
    finally:
        meter.close()


@pytest.fixture
def eco_benchmark(benchmark: Any, eco_session: EcoSession, request: pytest.FixtureRequest) -> Any:
    """pytest-benchmark's ``benchmark`` whose rounds run inside an ecoscore meter window."""
    return EcoBenchmark(benchmark, eco_session, request.node.nodeid)


@dataclass(frozen=True)
class CallEnergy:
    """The energy of one benchmark: its window and the share of one call."""

    reading: WindowReading
    mean_call_s: float
    idle_power_w: float | None
    extended_calls: int

    @property
    def joules_per_call(self) -> float | None:
        return self.reading.mean_power_w * self.mean_call_s if self.reading.valid else None

    @property
    def net_joules_per_call(self) -> float | None:
        if not self.reading.valid or self.idle_power_w is None:
            return None
        return (self.reading.mean_power_w - self.idle_power_w) * self.mean_call_s


class EcoBenchmark:
    """Callable like pytest-benchmark's fixture; adds the energy of the measured function."""

    def __init__(self, benchmark: Any, session: EcoSession, nodeid: str) -> None:
        self.benchmark = benchmark
        self.session = session
        self.nodeid = nodeid
        self.energy: CallEnergy | None = None
        self._started_utc = ""

    @property
    def extra_info(self) -> dict[str, Any]:
        return self.benchmark.extra_info

    @property
    def stats(self) -> Any:
        return self.benchmark.stats

    def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._measured(
            lambda: self.benchmark(fn, *args, **kwargs), lambda: fn(*args, **kwargs)
        )

    def pedantic(
        self,
        target: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        setup: Callable[[], Any] | None = None,
        teardown: Callable[..., Any] | None = None,
        rounds: int = 1,
        warmup_rounds: int = 0,
        iterations: int = 1,
    ) -> Any:
        kw = kwargs or {}

        def run() -> Any:
            return self.benchmark.pedantic(
                target,
                args=args,
                kwargs=kwargs,
                setup=setup,
                teardown=teardown,
                rounds=rounds,
                warmup_rounds=warmup_rounds,
                iterations=iterations,
            )

        # with a setup function the extra calls would meter setup too: no extension then
        extend = None if setup is not None else (lambda: target(*args, **kw))
        return self._measured(run, extend)

    # -- the window -----------------------------------------------------------------
    def _measured(self, run: Callable[[], Any], extend: Callable[[], Any] | None) -> Any:
        from ecoscore.runners.provenance import utc_now

        if not self.benchmark.enabled:  # --benchmark-disable: one plain call, nothing to meter
            return run()
        meter = self.session.meter
        need_s = max(self.session.min_window_s, meter.min_window_s())
        self._started_utc = utc_now()
        meter.begin_window()
        t0 = time.perf_counter()
        try:
            result = run()
            extra = 0
            if extend is not None:
                deadline = t0 + min(need_s, MAX_EXTENSION_S)
                while time.perf_counter() < deadline:
                    extend()
                    extra += 1
        finally:
            reading = meter.end_window()
        idle = self.session.idle
        idle_w = idle.power_w if idle is not None and idle.valid else None
        self.energy = CallEnergy(reading, float(self.benchmark.stats.stats.mean), idle_w, extra)
        self.extra_info.update(self._extra_info(need_s))
        return result

    def _extra_info(self, need_s: float) -> dict[str, Any]:
        assert self.energy is not None
        e, info = self.energy, self.session.meter.info
        r = e.reading
        short = r.duration_s < need_s
        return {
            "joules_per_call": e.joules_per_call,
            "net_joules_per_call": e.net_joules_per_call,
            "energy_measurement": info.measurement.value,
            "energy_boundary": info.boundary,
            "energy_attribution": ATTRIBUTION,
            "meter": info.name,
            "meter_source": info.source,
            "meter_sampling_period_s": info.sampling_period_s,
            "meter_uncertainty_rel": info.uncertainty_rel,
            "meter_fallback_reason": self.session.fallback_reason,
            "window_energy_j": r.energy_j,
            "window_duration_s": r.duration_s,
            "window_mean_power_w": r.mean_power_w if r.valid else None,
            "window_sensor_updates": r.sensor_updates,
            "window_extended_calls": e.extended_calls,
            "window_too_short": short,
            "window_valid": r.valid,
            "window_invalid_reason": r.invalid_reason,
            "idle_power_w": e.idle_power_w,
        }

    # -- the run record -----------------------------------------------------------------
    def write_record(
        self,
        workload: str,
        model_path: str | Path,
        quality: float,
        *,
        model_name: str | None = None,
        role: str = "user",
        batch_size: int = 1,
        engine: dict[str, Any] | None = None,
        out_dir: str | Path | None = None,
    ) -> Path:
        """Write an ecoscore run record of the measured function; return its path.

        ``quality`` is the workload's metric computed on its evaluation set by the same
        function; ``engine`` describes what ran it (name, version, device, precision,
        settings). The record has one window (this benchmark) and is marked quick when the
        window is shorter than the workload's minimum duration.
        """
        from ecoscore.record import save_record

        target = Path(out_dir) if out_dir is not None else self.session.record_dir
        if target is None:
            raise pytest.UsageError(
                f"{self.nodeid}: write_record() needs --eco-record-dir or out_dir="
            )
        record = self.make_record(
            workload, Path(model_path), quality, model_name, role, batch_size, engine
        )
        return save_record(record, target)

    def make_record(
        self,
        workload: str,
        model_path: Path,
        quality: float,
        model_name: str | None = None,
        role: str = "user",
        batch_size: int = 1,
        engine: dict[str, Any] | None = None,
    ) -> RunRecord:
        if self.energy is None:
            raise RuntimeError(
                f"{self.nodeid}: call eco_benchmark(...) before asking for its run record"
            )
        return build_record(
            self, workload, model_path, quality, model_name, role, batch_size, engine
        )


def _engine_ref(engine: dict[str, Any] | None) -> Any:
    import platform

    from ecoscore.record import EngineRef

    doc = {
        "name": "python-function",
        "version": platform.python_version(),
        "device": "cpu",
        "precision": "fp32",
        "settings": {},
    }
    doc.update(engine or {})
    return EngineRef(**doc)


def _latency(data: list[float]) -> Any:
    import numpy as np

    from ecoscore.runners.stats import latency_summary

    return latency_summary(np.asarray(data, dtype=np.float64) * 1e9)


def build_record(
    eco: EcoBenchmark,
    workload: str,
    model_path: Path,
    quality: float,
    model_name: str | None,
    role: str,
    batch_size: int,
    engine: dict[str, Any] | None,
) -> RunRecord:
    """A run record for the function an EcoBenchmark measured (one window)."""
    from ecoscore.benchmarks.metrics import passes_gate
    from ecoscore.benchmarks.registry import get_workload
    from ecoscore.record import Quality, RunRecord, RunSettings, ScenarioResult, Window
    from ecoscore.runners.benchmark import RUN_SEED
    from ecoscore.runners.host import describe_device
    from ecoscore.runners.model_files import inspect_model
    from ecoscore.runners.provenance import make_provenance
    from ecoscore.runners.record_builder import (
        claimed_assurance,
        meter_ref,
        model_ref,
        workload_ref,
    )
    from ecoscore.runners.stats import median_stat

    assert eco.energy is not None
    e, s = eco.energy, eco.session
    wl = get_workload(workload)
    info = wl.info
    model = inspect_model(model_path)
    r = e.reading
    queries = max(1, round(r.duration_s / e.mean_call_s))
    inferences = queries * batch_size
    idle_w = e.idle_power_w or 0.0
    window = Window(
        energy_j=r.energy_j,
        net_energy_j=r.energy_j - idle_w * r.duration_s,
        duration_s=r.duration_s,
        queries=queries,
        inferences=inferences,
        sensor_updates=r.sensor_updates,
        valid=r.valid,
        invalid_reason=r.invalid_reason,
        details={**r.details, "queries_from": "window duration / pytest-benchmark mean time"},
    )
    single = batch_size == 1
    stats = eco.benchmark.stats.stats
    per_inf = [window.energy_j / inferences] if r.valid else None
    scenario = ScenarioResult(
        name="single_stream" if single else "offline",
        batch_size=batch_size,
        min_duration_s=max(s.min_window_s, s.meter.min_window_s()),
        min_queries=int(stats.rounds),
        warmup_s=0.0,
        windows=[window],
        valid=r.valid,
        energy_per_inference_j=median_stat(per_inf) if per_inf else None,
        net_energy_per_inference_j=(
            median_stat([window.net_energy_j / inferences]) if per_inf else None
        ),
        power_w=median_stat([r.mean_power_w]) if r.valid else None,
        throughput_per_s=median_stat([inferences / r.duration_s]),
        latency=_latency(list(stats.data)) if single else None,
    )
    min_s = info.scenarios.single_stream_min_duration_s
    return RunRecord(
        workload=workload_ref(wl, wl.eval_data_sha256(), len(wl.eval_split())),
        model=model_ref(model, model_name or model_path.stem, role, model.parameter_count),
        engine=_engine_ref(engine),
        device=describe_device(),
        meter=meter_ref(s.meter, s.requested, s.fallback_reason),
        idle=s.idle or _no_idle(),
        scenarios=[scenario],
        quality=Quality(
            metric=info.metric,
            value=quality,
            gate=info.quality_gate,
            passed=passes_gate(info.metric, quality, info.quality_gate),
            samples=len(wl.eval_split()),
            batch_size=batch_size,
            computed_by="caller",
        ),
        assurance=claimed_assurance(s.meter, quality_by_caller=True),
        run=RunSettings(quick=r.duration_s < min_s, repeats=1, seed=RUN_SEED),
        provenance=make_provenance(
            eco._started_utc,
            {"run": RUN_SEED, "workload": info.seed},
            f"pytest-benchmark {eco.nodeid}: one window, energy per call by {ATTRIBUTION}",
        ),
    ).with_id()


def _no_idle() -> IdleBaseline:
    from ecoscore.record import IdleBaseline

    return IdleBaseline(
        power_w=0.0,
        energy_j=0.0,
        duration_s=0.0,
        valid=False,
        invalid_reason="no idle baseline measured (--eco-idle-s 0)",
    )
