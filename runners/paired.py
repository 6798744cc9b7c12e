"""Paired runs: the model and the workload's reference model, measured on the same device in
the same session, their windows interleaved, and the model factor ``E_model / E_reference``.

The solution grade says whether a deployment (model and device together) is frugal; the
model factor says how much energy the model needs against the workload's reference model
on that same device, so that models measured on different machines can be compared.

Rules enforced here (docs/measuring.md, "Paired runs"):
- the reference is loaded by a second engine built from the same config as the model's
  (engine, device, precision, threads, every setting), except the model-interface choices
  (``--output``, ``--layout``), which are the user's model's and are decided from the
  reference model itself; it is built after the device idle, like the model's;
- a model that is the reference (same identity: the sha256 over every file it loads) is
  refused (``PairedRunError``): its factor would be 1 by construction;
- the reference's quality is computed like the model's (batch 1, the outputs at the
  offline batch compared with it) and recorded beside it;
- both models warm up before each scenario; then the windows alternate, the model's
  first: model window 1, reference window 1, model window 2, reference window 2, ...; each
  window follows the rule of an unpaired run (``runners/loop.py``: it ends on time, the
  same length for both, lengthened for the meter) and is preceded by three untimed
  queries of its own model (the other model ran last); each window's start and end times
  are recorded (``t0_unix``, ``t1_unix``), so the order can be checked;
- the ready idle measured before and after the windows covers the whole interleaved
  block: both models' windows take their ready idle from the same interpolation;
- the factor of a scenario comes from the pairs (model window i, reference window i): the
  ratio of their gross energies per inference, for each pair whose two windows are valid
  with a positive energy; the factor is the median of the ratios, with the order-statistic
  confidence interval of the median (``runners/stats.median_stat``, the interval every
  summary of a record has). Drift slower than a pair cancels in each ratio; a pair with an
  invalid window is left out and the scenario says how many pairs it has (``factor.n``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecoscore.errors import UsageError
from ecoscore.record import PairedRun, PairedScenario, Quality, ScenarioResult, Stat, Window
from ecoscore.runners.engines.base import Engine
from ecoscore.runners.interference import InterferenceProbe
from ecoscore.runners.loop import (
    IdleModel,
    Progress,
    RawScenario,
    RawWindow,
    ScenarioSettings,
    _phase,
    _warmup,
    effective_duration,
    expected_queries,
    measure_window,
)
from ecoscore.runners.meters.base import Meter
from ecoscore.runners.model_files import ModelFile, inspect_model
from ecoscore.runners.stats import median_stat

if TYPE_CHECKING:
    from ecoscore.benchmarks.base import Split
    from ecoscore.runners.benchmark import RunRequest
    from ecoscore.runners.watchdog import Watchdog

#: Untimed queries of a model before each of its windows (the other model ran last).
REWARM_QUERIES = 3


class PairedRunError(UsageError):
    """``--paired`` cannot be done as asked: the model is the reference, or the workload
    has no reference model to measure beside it."""


@dataclass(frozen=True)
class PairedModel:
    """The reference model a paired run measures beside the model: the workload's
    reference from its manifest (``ecoscore.session`` finds it)."""

    path: Path
    name: str


def check_pair(model_path: Path, reference: PairedModel) -> tuple[ModelFile, ModelFile]:
    """Both model files checked; refused when the model is the reference (the same identity,
    the sha256 over every file it loads)."""
    model, ref = inspect_model(model_path), inspect_model(reference.path)
    if model.sha256 == ref.sha256:
        raise PairedRunError(
            f"{model_path}: --paired measures a model beside the workload's reference model, "
            f"and this model is that reference ({reference.name}, sha256 {ref.sha256[:12]}); "
            "give another model with --model, or --baseline"
        )
    return model, ref


# -- the factor ---------------------------------------------------------------------------


def pair_ratios(model: list[Window], reference: list[Window]) -> list[float]:
    """Per pair (model window i, reference window i), the ratio of the gross energies per
    inference, for the pairs whose two windows are valid with a positive energy."""
    out = []
    for m, r in zip(model, reference, strict=False):
        if not (m.valid and r.valid and m.energy_j > 0 and r.energy_j > 0):
            continue
        if m.inferences <= 0 or r.inferences <= 0:
            continue
        out.append((m.energy_j / m.inferences) / (r.energy_j / r.inferences))
    return out


def pair_factor(model: list[Window], reference: list[Window]) -> Stat | None:
    """The model factor of a scenario: median of the pair ratios with its order-statistic
    confidence interval; None when no pair qualifies."""
    ratios = pair_ratios(model, reference)
    return median_stat(ratios) if ratios else None


# -- measuring ----------------------------------------------------------------------------


@contextlib.contextmanager
def watching(dog: Watchdog | None, engine: Engine, model: Path) -> Iterator[None]:
    """The run's watchdog, pointed at ``engine`` for the phases inside (the watchdog
    stops the engine of the phase in progress). Switched between phases only."""
    if dog is None:
        yield
        return
    before = dog.engine, dog.model
    dog.engine, dog.model = engine, str(model)
    try:
        yield
    finally:
        dog.engine, dog.model = before


@dataclass
class Arm:
    """One model of the pair: its engine, prepared batches and scenario settings."""

    engine: Engine
    model: Path
    batches: list
    settings: ScenarioSettings
    tag: str  # how its phases are named ("" for the model, " (reference NAME)")
    windows: list[RawWindow] = field(default_factory=list)
    latencies: list[np.ndarray] = field(default_factory=list)
    capacity: int = 0


def _window(
    arm: Arm,
    meter: Meter,
    min_ns: int,
    rep: int,
    probe: InterferenceProbe | None,
    dog: Watchdog | None,
    limit_s: float | None,
) -> None:
    """One window of one arm, as ``runners.loop.measure_windows`` measures it."""
    s, engine = arm.settings, arm.engine
    with watching(dog, engine, arm.model):
        with _phase(dog, f"{s.name} window {rep + 1}{arm.tag}", limit_s):
            run = engine.run_prepared
            for i in range(REWARM_QUERIES):  # untimed: the other model ran last
                run(arm.batches[i % len(arm.batches)])
            engine.synchronize()
        window, lat = measure_window(
            engine,
            meter,
            arm.batches,
            s,
            min_ns,
            arm.capacity,
            probe,
            _phase(dog, f"{s.name} window {rep + 1}{arm.tag}", limit_s),
        )
    arm.windows.append(window)
    if lat is not None:
        arm.latencies.append(lat)


def measure_interleaved(
    arms: list[Arm],
    meter: Meter,
    progress: Progress | None = None,
    probe: InterferenceProbe | None = None,
    dog: Watchdog | None = None,
    time_limit_s: float | None = None,
) -> list[RawScenario]:
    """Warm every arm up, then measure their windows alternately (arm 0's window 1, arm
    1's window 1, arm 0's window 2, ...), every window of the same length (the first arm's
    scenario settings and the meter decide it). One ``RawScenario`` per arm."""
    first = arms[0].settings
    duration = effective_duration(meter, first)
    min_ns = int(duration * 1e9)
    for arm in arms:
        what = f"the {arm.settings.name} warm-up{arm.tag}"
        with watching(dog, arm.engine, arm.model), _phase(dog, what, time_limit_s):
            pace = _warmup(arm.engine, arm.batches, arm.settings.warmup_s)
        if arm.settings.name == "single_stream":
            arm.capacity = expected_queries(duration, pace, arm.settings.min_queries)
    for rep in range(first.repeats):
        for arm in arms:
            _window(arm, meter, min_ns, rep, probe, dog, time_limit_s)
        if progress:
            progress(rep + 1, first.repeats)
    period = meter.info.sampling_period_s
    return [RawScenario(a.settings, duration, a.windows, a.latencies, period) for a in arms]


@dataclass
class Pair:
    """The reference's side of a paired run, opened by ``run_benchmark`` after the model's
    quality pass (``open_pair``): its engine, loaded, its interface and quality; then
    ``measure_windows`` stands in for ``runners.loop.measure_windows`` and measures both
    models' windows interleaved, and ``section`` gives the record's ``paired`` section."""

    request: RunRequest
    reference: PairedModel
    file: ModelFile
    engine: Engine
    x: np.ndarray
    offline_batch: int
    quality: Quality
    settings: dict[str, Any]
    parameters: int | None
    raws: dict[str, RawScenario] = field(default_factory=dict)
    #: Per scenario, the reference engine's settings and their tuning (as the model's).
    chosen: dict[str, dict[str, Any]] = field(default_factory=dict)

    def measure_windows(
        self,
        engine: Engine,
        meter: Meter,
        batches: list,
        settings: ScenarioSettings,
        progress: Progress | None = None,
        probe: InterferenceProbe | None = None,
        watchdog: Watchdog | None = None,
        time_limit_s: float | None = None,
    ) -> RawScenario:
        """The model's scenario, its windows interleaved with the reference's (kept for
        ``section``); the signature of ``runners.loop.measure_windows``."""
        from ecoscore.runners.benchmark import _batches, _scenario_settings

        ref_settings = settings
        if settings.name == "offline":
            ref_settings = replace(settings, batch_size=self.offline_batch)
        ref_batches = _batches(self.engine, self.x, ref_settings.batch_size)
        # the reference at its own best simple setting too, chosen like the model's
        with watching(watchdog, self.engine, self.reference.path):
            self.chosen[settings.name] = _scenario_settings(
                self.request, self.engine, ref_batches, ref_settings, watchdog, time_limit_s
            )
        arms = [
            Arm(engine, self.request.model_path, batches, settings, ""),
            Arm(
                self.engine,
                self.reference.path,
                ref_batches,
                ref_settings,
                f" (reference {self.reference.name})",
            ),
        ]
        model_raw, ref_raw = measure_interleaved(
            arms, meter, progress, probe, watchdog, time_limit_s
        )
        self.raws[settings.name] = ref_raw
        return model_raw

    def section(
        self,
        idle: IdleModel,
        scenarios: list[ScenarioResult],
        resolution: Callable[[RawScenario], float | None],
    ) -> PairedRun:
        """The record's ``paired`` section: the reference's identity, quality and windows
        (under the run's idle levels), and each scenario's factor."""
        from ecoscore.runners.record_builder import model_ref

        default = self.request.workload.info.scenarios.offline_batch_size
        out = []
        for s in scenarios:
            raw = self.raws[s.name]
            note = None
            if s.name == "offline" and raw.settings.batch_size != default:
                note = (
                    f"the reference model is exported with a fixed batch of "
                    f"{raw.settings.batch_size}: offline ran at that batch instead of {default}"
                )
            ref = raw.result(
                idle,
                incremental_resolution_j=resolution(raw),
                batch_note=note,
                **self.chosen.get(s.name, {}),
            )
            out.append(
                PairedScenario(
                    name=s.name, reference=ref, factor=pair_factor(s.windows, ref.windows)
                )
            )
        meter = self.request.meter.info
        return PairedRun(
            measurement=meter.measurement.value,  # type: ignore[arg-type]
            reference=model_ref(self.file, self.reference.name, "reference", self.parameters),
            reference_quality=self.quality,
            reference_engine_settings=self.settings,
            scenarios=out,
        )

    def close(self) -> None:
        self.engine.close()


def open_pair(
    req: RunRequest,
    split: Split,
    dog: Watchdog,
    quality_limit_s: float,
    say: Callable[[str], None],
) -> Pair:
    """Build a second engine from the run's config, load the reference in it, match it to
    the workload and compute its quality (under the run's watchdog); the caller closes the
    pair (``Pair.close``)."""
    from ecoscore.runners.benchmark import evaluate_quality, load_hints, quality_section
    from ecoscore.runners.model_interface import resolve

    assert req.paired is not None
    reference = req.paired
    _, file = check_pair(req.model_path, reference)
    wl, info = req.workload, req.workload.info
    config = req.engine_config.model_copy(update={"output": None, "layout": None})
    engine = config.build()
    try:
        with watching(dog, engine, reference.path):
            say(f"loading the reference model {reference.name}")
            with dog.phase(f"loading the reference model {reference.name}", None):
                engine.load(reference.path, load_hints(wl))
            iface = resolve(engine, wl, reference.path, None, None)
            x = iface.adapt_input(split.x)
            batch = iface.batch_size(info.scenarios.offline_batch_size)
            offline = batch if "offline" in req.scenarios else 1
            say(f"quality of the reference model {reference.name}")
            what = f"the quality pass of the reference model {reference.name}"
            with dog.phase(what, quality_limit_s, "--quality-time-limit"):
                value, consistency = evaluate_quality(engine, wl, x, split.y, offline, iface)
        eng_info = engine.info()
        params = file.parameter_count
        if params is None:
            params = engine.parameter_count
    except BaseException:
        engine.close()
        raise
    quality = quality_section(info, value, len(split), consistency)
    settings = {**eng_info.settings, "model_interface": iface.describe()}
    return Pair(req, reference, file, engine, x, batch, quality, settings, params)
