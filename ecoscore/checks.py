"""What a record claims, checked against what it contains and against the installed
workloads: the rules of ``ecoscore verify``, each with a name (docs/trust.md).

A signature proves who vouched for a record and its ``record_id`` that nothing was edited
after it was made. These rules check that its numbers could come from a real run of the
declared workload: the workload is the installed one (the quality gate always comes from
the installed definition, never from the record), every summary is recomputed from the
windows, the meter and its boundary agree, estimates stay estimates, the model's identity
covers every file it loads, and the quality is the graded batch's.

Each rule has a severity:
- ``invalid``: the record's figures cannot be taken as they are (inconsistent, altered,
  or about a workload this ecoscore does not have): no grade;
- ``not-certifiable``: the figures may stand, but they do not certify (a quick run, too few
  windows, estimated or self-reported energy, a redirected sensor tree, non-reference data).

The assurance level is derived from the record's content, never taken from its
``assurance`` field: ``self-measured`` (ecoscore read a sensor itself), ``self-reported``
(an external power log, or a quality the caller gave) or ``estimated``. A lab replication
raises it to ``lab-replicated`` (that is the jury's comparison, ecoscore.jury.compare).

Adding a rule: one class below and one line in ``RULES``; tests/test_checks.py builds a
record that violates each rule.
"""

from __future__ import annotations

import functools
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Literal

from ecoscore.record import RunRecord, ScenarioResult, Stat

Severity = Literal["invalid", "not-certifiable"]
ASSURANCE_LEVELS = ("estimated", "self-reported", "self-measured", "lab-replicated")
#: Metrics whose values lie in [0, 1].
BOUNDED_METRICS = ("accuracy", "macro_f1", "roc_auc")
#: A certifiable scenario has at least this many valid windows.
MIN_VALID_WINDOWS = 3
#: A full run's window observed at least this many sensor updates (runners.meters.base).
MIN_SENSOR_UPDATES = 100
#: Why data whose checksums a test pinned never certifies.
TEST_HOOK_BLOCKER = "data checksums pinned by a test hook, not published ones"
#: Summaries may differ from their recomputation by float rounding only.
REL_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    message: str

    def line(self) -> str:
        return f"[{self.rule}] {self.message}"


@dataclass
class Context:
    """What the rules may look up: the installed workload and meter definitions, and the
    workload files at hand (by the sha256 of their bytes) for records run from one."""

    record: RunRecord
    definitions: dict[str, Any] = field(default_factory=dict)

    @property
    def from_file(self) -> bool:
        return self.record.workload.definition_file_sha256 is not None

    @cached_property
    def workload(self) -> Any:
        """The authoritative definition: the workload file the record names, when it is at
        hand; the installed workload otherwise (None when neither is)."""
        if self.from_file:
            return self.definitions.get(self.record.workload.definition_file_sha256 or "")
        from ecoscore.benchmarks.registry import workload_info

        return workload_info(self.record.workload.name)

    @cached_property
    def meter_class(self) -> Any:
        from ecoscore.runners.meters.base import MeterError
        from ecoscore.runners.meters.registry import config_class

        cfg = self.record.meter.config
        name = cfg.get("meter") if cfg else None
        if not isinstance(name, str):
            return None
        try:
            return config_class(name)
        except MeterError:
            return None


class Rule(ABC):
    name: ClassVar[str]
    severity: ClassVar[Severity]
    #: One sentence for docs/trust.md and `ecoscore verify --rules`.
    description: ClassVar[str]

    @abstractmethod
    def problems(self, ctx: Context) -> Iterator[str]:
        """What is wrong, one message each (nothing when the rule holds)."""


# -- the workload ----------------------------------------------------------------------


class WorkloadKnown(Rule):
    name = "workload-known"
    severity = "invalid"
    description = (
        "the workload and its version are installed here; otherwise the record is "
        "unverifiable and gets no grade"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        w, info = ctx.record.workload, ctx.workload
        if ctx.from_file:
            return  # workload-file says whether its file was at hand
        if info is None:
            yield f"unverifiable: workload {w.name!r} is not installed in this ecoscore"
        elif w.version != info.version:
            yield (
                f"unverifiable: the record's workload {w.name} version {w.version!r} is not "
                f"the installed version {info.version!r}"
            )


class WorkloadDefinition(Rule):
    name = "workload-definition"
    severity = "invalid"
    description = (
        "the record's workload definition (sha256, family, task, metric, quality gate) is "
        "the installed one: the gate used for eligibility always comes from the installed "
        "definition"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        w, info = ctx.record.workload, ctx.workload
        if info is None or w.version != info.version:
            return
        if w.definition_sha256 != info.definition_sha256():
            yield (
                f"definition sha256 {w.definition_sha256[:12]} is not the installed "
                f"{w.name} {w.version} definition ({info.definition_sha256()[:12]})"
            )
        for key, got, want in (
            ("family", w.family, info.family),
            ("task", w.task, info.task),
            ("metric", w.metric, info.metric),
            ("quality gate", w.quality_gate, info.quality_gate),
        ):
            if got != want:
                yield f"{key} {got!r} differs from the installed definition's {want!r}"


class WorkloadFileChecked(Rule):
    name = "workload-file"
    severity = "not-certifiable"
    description = (
        "a record run from a workload file is checked against that file (given to verify "
        "or compare with --workload-file, or inside its bundle); without it, its definition "
        "is only the record's word"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        w = ctx.record.workload
        if ctx.from_file and ctx.workload is None:
            yield (
                f"run from workload file {w.definition_file or '?'} "
                f"({(w.definition_file_sha256 or '')[:12]}), which was not given: its "
                "definition cannot be checked"
            )


class ReferenceData(Rule):
    name = "reference-data"
    severity = "not-certifiable"
    description = (
        "the evaluation data is the workload's reference data (its checksum is pinned by "
        "the installed definition); other data is scored for information only"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        from ecoscore.benchmarks.reference_data import pins_for

        w, info = ctx.record.workload, ctx.workload
        if info is None:
            return
        where = "its workload file" if ctx.from_file else "the installed definition"
        if w.reference_data is False:
            yield f"non-reference data: {w.data_check or 'the data is not the reference data'}"
            return
        by = w.data_pinned_by if w.reference_data else None
        if by == "test-hook":
            yield TEST_HOOK_BLOCKER
        elif by == "published":
            pins, _ = pins_for(w.name)
            if not pins:
                yield f"claims published checksums; none is published for {w.name}"
            missing = [p.file for p in pins if p.file not in w.data_files_sha256]
            if missing:
                yield f"claims published checksums, but lists no read of {', '.join(missing)}"
        elif not info.eval_sha256:  # bundled, definition, or a record made before the check
            yield (
                f"non-reference data: {where} pins no checksum for {w.name}'s evaluation "
                f"data ({w.data_source})"
            )
        elif w.eval_data_sha256 != info.eval_sha256:
            yield (
                f"non-reference data: evaluation data sha256 {w.eval_data_sha256[:12]} is not "
                f"the reference {info.eval_sha256[:12]}"
            )


# -- the quality -----------------------------------------------------------------------


class QualityConsistent(Rule):
    name = "quality-consistent"
    severity = "invalid"
    description = (
        "the quality section agrees with the workload: its metric and gate, pass/fail "
        "recomputed from the value and the installed gate, bounded metrics within [0, 1]"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        from ecoscore.benchmarks.metrics import passes_gate

        q, w, info = ctx.record.quality, ctx.record.workload, ctx.workload
        if q.metric != w.metric:
            yield f"quality metric {q.metric!r} is not the workload's {w.metric!r}"
        if q.metric in BOUNDED_METRICS and not 0.0 <= q.value <= 1.0:
            yield f"{q.metric} {q.value!r} is outside [0, 1]"
        gate = info.quality_gate if info is not None else w.quality_gate
        if q.gate != gate:
            yield f"quality gate {q.gate!r} is not the installed gate {gate!r}"
        if q.passed != passes_gate(q.metric, q.value, gate):
            yield f"passed={q.passed} contradicts {q.metric} {q.value:.4g} against gate {gate:g}"
        if q.samples != w.eval_samples:
            yield f"quality over {q.samples} samples, the evaluation set has {w.eval_samples}"


class QualityOnWhatIsTimed(Rule):
    name = "quality-on-what-is-timed"
    severity = "invalid"
    description = (
        "the quality was computed at batch 1, the graded scenario's batch, and the outputs "
        "at the offline batch agree with it over the whole evaluation set"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        rec, q = ctx.record, ctx.record.quality
        if rec.schema_version == "1.0" or q.computed_by == "caller":
            return  # not made by this rule's ecoscore: other rules withhold certification
        if q.batch_size != 1:
            yield f"quality computed at batch {q.batch_size}, not at the graded batch 1"
        offline = rec.scenario("offline")
        if offline is None or offline.batch_size <= 1:
            return
        bc = q.batch_consistency
        if bc is None:
            yield "no comparison of the outputs at the offline batch with those at batch 1"
        elif not bc.consistent:
            yield (
                f"outputs depend on batch size: {bc.disagreeing} of {bc.samples} samples differ "
                f"at batch {bc.offline_batch_size} from batch 1 (max difference "
                f"{'n/a' if bc.max_abs_diff is None else f'{bc.max_abs_diff:.3g}'}; "
                f"tolerance {bc.tolerance})"
            )
        elif bc.offline_batch_size != offline.batch_size:
            yield (
                f"outputs were compared at batch {bc.offline_batch_size}, the offline scenario "
                f"ran batch {offline.batch_size}"
            )


# -- the measurement -------------------------------------------------------------------


def _close(a: float, b: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=REL_TOLERANCE, abs_tol=1e-300)


def _stat_problems(label: str, stat: Stat | None, values: list[float]) -> Iterator[str]:
    from ecoscore.runners.stats import median_stat

    if not values:
        if stat is not None:
            yield f"{label} is given, but no window can give it"
        return
    if stat is None:
        yield f"{label} is missing, though the windows give it"
        return
    want = median_stat(values)
    for key in ("median", "ci_low", "ci_high", "ci_level", "cv"):
        got, exp = getattr(stat, key), getattr(want, key)
        if not _close(got, exp):
            yield f"{label}.{key} {got!r} is not {exp!r}, recomputed from the windows"
    if stat.n != want.n:
        yield f"{label}.n {stat.n} is not the {want.n} windows it summarises"


def scenario_problems(rec: RunRecord, s: ScenarioResult, where: str) -> Iterator[str]:
    """What is wrong with one scenario of ``rec`` (the model's, or the paired reference's):
    its windows against the record's idle levels, and every summary against its windows."""
    idle_w = rec.idle.power_w
    levels = rec.idle_levels
    device_w = levels.device.power_w if levels and levels.device and levels.device.valid else None
    ready = [rec.idle.power_w]
    if levels and levels.ready_after is not None and levels.ready_after.valid:
        ready.append(levels.ready_after.power_w)
    if not s.windows:
        yield f"{where}: no window"
        return
    for i, w in enumerate(s.windows):
        if w.inferences != w.queries * s.batch_size:
            yield (
                f"{where} window {i}: {w.inferences} inferences is not {w.queries} "
                f"queries x batch {s.batch_size}"
            )
        if w.duration_s <= 0 or w.queries <= 0 or w.inferences <= 0:
            yield f"{where} window {i}: duration, queries and inferences must be positive"
            return
        ready_w = w.ready_idle_w if w.ready_idle_w is not None else idle_w
        if not min(ready) * (1 - REL_TOLERANCE) <= ready_w <= max(ready) * (1 + REL_TOLERANCE):
            yield (
                f"{where} window {i}: ready idle {ready_w!r} W is not between the "
                f"idle before and after the windows ({min(ready)!r}-{max(ready)!r} W)"
            )
        if not _close(w.net_energy_j, w.energy_j - ready_w * w.duration_s):
            yield (
                f"{where} window {i}: net energy {w.net_energy_j!r} is not its energy "
                f"minus the ready idle power x its duration"
            )
        if w.attributable_energy_j is not None and (
            device_w is None
            or not _close(w.attributable_energy_j, w.energy_j - device_w * w.duration_s)
        ):
            yield (
                f"{where} window {i}: attributable energy {w.attributable_energy_j!r} is "
                "not its energy minus the device idle power x its duration"
            )
    valid = [w for w in s.windows if w.valid]
    if s.valid != (len(valid) == len(s.windows)):
        yield f"{where}: valid={s.valid} contradicts its windows' validity"
    yield from _stat_problems(
        f"{where} energy_per_inference_j",
        s.energy_per_inference_j,
        [w.energy_j / w.inferences for w in valid],
    )
    yield from _stat_problems(
        f"{where} net_energy_per_inference_j",
        s.net_energy_per_inference_j,
        [w.net_energy_j / w.inferences for w in valid],
    )
    yield from _stat_problems(
        f"{where} power_w", s.power_w, [w.energy_j / w.duration_s for w in valid]
    )
    if s.attributable_energy_per_inference_j is not None or (
        valid and all(w.attributable_energy_j is not None for w in valid)
    ):
        yield from _stat_problems(
            f"{where} attributable_energy_per_inference_j",
            s.attributable_energy_per_inference_j,
            [(w.attributable_energy_j or 0.0) / w.inferences for w in valid],
        )
    yield from _stat_problems(
        f"{where} throughput_per_s",
        s.throughput_per_s,
        [w.inferences / w.duration_s for w in s.windows],
    )
    if s.latency is not None:
        lat = s.latency
        ran = sum(w.queries for w in s.windows)
        if lat.count != ran:
            yield f"{where}: latency over {lat.count} queries, the windows ran {ran}"
        if not lat.min_ms <= lat.p50_ms <= lat.p90_ms <= lat.p99_ms <= lat.max_ms:
            yield f"{where}: latency percentiles are not in order"


class SummariesMatchWindows(Rule):
    name = "summaries-match-windows"
    severity = "invalid"
    description = (
        "every summary (medians, confidence intervals, CV of energy per inference gross "
        "and net, power, throughput) is recomputed from the windows, and each window's "
        "inferences, net energy and validity agree with the rest of the record"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        rec = ctx.record
        for s in rec.scenarios:
            yield from scenario_problems(rec, s, s.name)


class FiniteNumbers(Rule):
    name = "finite-numbers"
    severity = "invalid"
    description = "every number in the record is finite (no NaN, no infinity)"

    def problems(self, ctx: Context) -> Iterator[str]:
        doc = ctx.record.model_dump(mode="python")
        try:  # the common case, fast: the JSON encoder refuses NaN and infinities
            json.dumps(doc, allow_nan=False, default=str)
            return
        except ValueError:
            pass
        for path, value in _numbers(doc, ""):
            if not math.isfinite(value):
                yield f"{path.lstrip('.')} is {value!r}"


def _numbers(doc: Any, path: str) -> Iterator[tuple[str, float]]:
    if isinstance(doc, float):
        yield path, doc
    elif isinstance(doc, dict):
        for k, v in doc.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(doc, list | tuple):
        for i, v in enumerate(doc):
            yield from _numbers(v, f"{path}[{i}]")


class EstimateIsEstimated(Rule):
    name = "estimate-is-estimated"
    severity = "invalid"
    description = (
        "an estimating meter's figures are ESTIMATED, never MEASURED; a MEASURED record names "
        "a measuring meter this ecoscore knows"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        m, cls = ctx.record.meter, ctx.meter_class
        estimating = m.name == "codecarbon-estimate" or (cls is not None and cls.estimates)
        if estimating and m.measurement != "ESTIMATED":
            yield f"meter {m.name!r} is a model, not a sensor, but the record says {m.measurement}"
        if m.measurement == "MEASURED" and ctx.record.schema_version != "1.0" and cls is None:
            yield f"MEASURED by meter {m.name!r}, whose config names no meter this ecoscore has"


class BoundaryMatchesMeter(Rule):
    name = "boundary-matches-meter"
    severity = "invalid"
    description = (
        "the energy boundary is one the meter can report (RAPL: cpu-package, cpu+dram or "
        "psys; NVML: gpu; a sum: its parts' boundaries joined with +; ...)"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        m, cls = ctx.record.meter, ctx.meter_class
        if cls is None or cls.boundary_allowed(m.config or {}, m.boundary):
            return
        reports = (
            ", ".join(cls.boundaries) if cls.boundaries else "its parts' boundaries joined with +"
        )
        yield f"boundary {m.boundary!r} cannot come from meter {m.name!r} (it reports {reports})"


class ModelIdentity(Rule):
    name = "model-identity"
    severity = "invalid"
    description = (
        "the model's sha256 covers every file it loads (ONNX external data included), and "
        "the record lists them"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        from ecoscore.runners.model_files import FileDigest, model_identity

        model = ctx.record.model
        if model.files is None:
            return  # a 1.0 record: schema-current says it cannot be checked
        if not model.files or model.files[0].name != model.file_name:
            yield f"the files list does not start with the model file {model.file_name!r}"
            return
        digests = [FileDigest(f.name, f.sha256, f.size_bytes) for f in model.files]
        if model.sha256 != model_identity(digests):
            yield f"sha256 {model.sha256[:12]} is not the identity of the files it lists"
        if model.size_bytes != sum(f.size_bytes for f in model.files):
            yield f"size {model.size_bytes} is not the sum of the files' sizes"


# -- the paired run (ecoscore run --paired) -------------------------------------------------


class PairedFactorMatchesWindows(Rule):
    name = "paired-factor-matches-windows"
    severity = "invalid"
    description = (
        "a paired record's reference scenarios are those of the model, their summaries are "
        "recomputed from their windows, each factor is recomputed from the pairs of windows "
        "(median of the per-pair ratios of gross energy per inference, its order-statistic "
        "interval), and the factor is as ESTIMATED as the meter"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        from ecoscore.runners.paired import pair_ratios

        rec, paired = ctx.record, ctx.record.paired
        if paired is None:
            return
        if paired.measurement != rec.meter.measurement:
            yield (
                f"paired.measurement {paired.measurement} is not the meter's "
                f"{rec.meter.measurement}"
            )
        names = [p.name for p in paired.scenarios]
        if sorted(names) != sorted(s.name for s in rec.scenarios) or len(set(names)) != len(names):
            yield (
                f"paired scenarios {', '.join(names) or 'none'} are not the model's "
                f"({', '.join(s.name for s in rec.scenarios)})"
            )
        for p in paired.scenarios:
            where = f"paired {p.name}"
            model = rec.scenario(p.name)
            if p.reference.name != p.name:
                yield f"{where}: its reference scenario is named {p.reference.name!r}"
            yield from scenario_problems(rec, p.reference, f"{where} reference")
            if model is None:
                continue
            if len(model.windows) != len(p.reference.windows):
                yield (
                    f"{where}: {len(p.reference.windows)} reference windows for the model's "
                    f"{len(model.windows)}: the windows are not in pairs"
                )
                continue
            yield from _stat_problems(
                f"{where} factor", p.factor, pair_ratios(model.windows, p.reference.windows)
            )


def _span(w: Any) -> tuple[float, float] | None:
    t0, t1 = w.details.get("t0_unix"), w.details.get("t1_unix")
    if isinstance(t0, int | float) and isinstance(t1, int | float) and t0 <= t1:
        return float(t0), float(t1)
    return None


class PairedWindowsInterleaved(Rule):
    name = "paired-windows-interleaved"
    severity = "invalid"
    description = (
        "a paired record's windows alternate in time, the model's first (model window 1, "
        "reference window 1, model window 2, ...), each with its start and end times"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        rec, paired = ctx.record, ctx.record.paired
        if paired is None:
            return
        for p in paired.scenarios:
            model = rec.scenario(p.name)
            if model is None or len(model.windows) != len(p.reference.windows):
                continue  # paired-factor-matches-windows says so
            spans = []
            for m, r in zip(model.windows, p.reference.windows, strict=True):
                spans += [_span(m), _span(r)]
            if any(x is None for x in spans):
                yield f"paired {p.name}: a window has no start and end time (t0_unix, t1_unix)"
                continue
            ends = [t for x in spans for t in x]  # type: ignore[union-attr]
            if any(b < a for a, b in zip(ends, ends[1:], strict=False)):
                yield (
                    f"paired {p.name}: the windows do not alternate model, reference, "
                    "model, ... in time"
                )


@functools.cache
def _reference_identity(workload: str, fmt: str) -> tuple[str, str] | None:
    """(name, sha256) of the installed workload's reference model in format ``fmt``."""
    from ecoscore.models.registry import ModelNotFound, reference_model
    from ecoscore.runners.model_files import inspect_model

    try:
        ref = reference_model(workload, "reference")
    except ModelNotFound:
        return None
    if fmt not in ref.files or not ref.files[fmt].is_file():
        return None
    return ref.name, inspect_model(ref.file(fmt)).sha256


class PairedReferenceIsTheWorkloadReference(Rule):
    name = "paired-reference-is-the-workload-reference"
    severity = "invalid"
    description = (
        "a paired record's reference is the installed workload's reference model (same "
        "sha256 over every file it loads), is not the model itself, and lists its files"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        from ecoscore.runners.model_files import FileDigest, model_identity

        rec, paired = ctx.record, ctx.record.paired
        if paired is None:
            return
        ref = paired.reference
        if ref.sha256 == rec.model.sha256:
            yield "paired: the model is the reference itself (its factor is 1 by construction)"
        if ref.files:
            digests = [FileDigest(f.name, f.sha256, f.size_bytes) for f in ref.files]
            if ref.sha256 != model_identity(digests):
                yield f"paired reference sha256 {ref.sha256[:12]} is not the identity of its files"
        else:
            yield "paired reference lists no files"
        if ctx.from_file or ctx.workload is None:
            yield (
                f"paired reference {ref.name}: the workload {rec.workload.name!r} has no "
                "installed reference model to check it against"
            )
            return
        want = _reference_identity(rec.workload.name, ref.format)
        if want is None:
            yield (
                f"paired reference {ref.name}: the installed {rec.workload.name} ships no "
                f"reference model in {ref.format}"
            )
        elif ref.sha256 != want[1]:
            yield (
                f"paired reference {ref.name} (sha256 {ref.sha256[:12]}) is not the installed "
                f"{rec.workload.name} reference {want[0]} (sha256 {want[1][:12]})"
            )


# -- certification ---------------------------------------------------------------------


class FullRun(Rule):
    name = "full-run"
    severity = "not-certifiable"
    description = "a quick (smoke) run never certifies"

    def problems(self, ctx: Context) -> Iterator[str]:
        if ctx.record.run.quick:
            yield "a quick (smoke) run"


class ValidWindows(Rule):
    name = "three-valid-windows"
    severity = "not-certifiable"
    description = f"each scenario has at least {MIN_VALID_WINDOWS} valid windows"

    def problems(self, ctx: Context) -> Iterator[str]:
        for s in ctx.record.scenarios:
            n = sum(w.valid for w in s.windows)
            if n < MIN_VALID_WINDOWS:
                need = MIN_VALID_WINDOWS
                yield f"{s.name}: {n} valid window(s), a certifiable grade needs {need}"


class SensorUpdatesObserved(Rule):
    name = "sensor-updates-observed"
    severity = "invalid"
    description = (
        f"in a full run with a measuring sensor, every valid window observed at least "
        f"{MIN_SENSOR_UPDATES} sensor updates"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        rec = ctx.record
        if rec.run.quick or rec.meter.measurement != "MEASURED":
            return
        for s in rec.scenarios:
            for i, w in enumerate(s.windows):
                n = w.sensor_updates
                if w.valid and n is not None and n < MIN_SENSOR_UPDATES:
                    yield (
                        f"{s.name} window {i + 1}: valid with {n} observed sensor updates "
                        f"(a full run's window needs {MIN_SENSOR_UPDATES})"
                    )


class SettingsChosenAsRecorded(Rule):
    name = "settings-chosen-as-recorded"
    severity = "invalid"
    description = (
        "where a scenario's engine settings were tuned (--threads auto), the chosen setting "
        "is one that was tried, the best of them by the recorded criterion, and the one the "
        "scenario's engine config ran with"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        for s in ctx.record.scenarios:
            t = s.tuning
            if t is None:
                continue
            config = s.engine_config or {}
            ran = {k: config.get(k) for k in t.chosen if k in config}
            if ran and ran != t.chosen:
                yield f"{s.name}: ran with {ran}, but the tuning chose {t.chosen}"
            if t.mode != "auto":
                continue
            usable = [
                tr
                for tr in t.trials
                if tr.failed is None and t.criterion and getattr(tr, t.criterion) is not None
            ]
            if not any(tr.settings == t.chosen for tr in usable):
                yield f"{s.name}: the chosen setting {t.chosen} is not among those measured"
                continue
            assert t.criterion is not None
            figure = {json.dumps(tr.settings, sort_keys=True): tr for tr in usable}
            chosen = getattr(figure[json.dumps(t.chosen, sort_keys=True)], t.criterion)
            best = min(getattr(tr, t.criterion) for tr in usable)
            if chosen > best:
                yield (
                    f"{s.name}: the chosen setting {t.chosen} has {t.criterion} {chosen:.6g}, "
                    f"but a setting tried had {best:.6g}"
                )


class NotRedirected(Rule):
    name = "not-redirected"
    severity = "not-certifiable"
    description = (
        "no sensor was read through ECOSCORE_SYSFS_ROOT (a redirected /sys and /proc tree is "
        "for tests and containers; its figures are not this machine's)"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        root = ctx.record.provenance.sysfs_root
        if root:
            yield f"every /sys and /proc read went to {root!r} (ECOSCORE_SYSFS_ROOT)"


def interference_seen(record: RunRecord) -> list[str]:
    """What the interference probe saw, one line per scenario with a flagged window: the
    range of other processes' CPU share over the windows above the threshold
    (``ecoscore.runners.interference.OTHER_CPU_SHARE_THRESHOLD``) and any other note (other
    processes on the measured GPU). A window counts when its recorded share is above the
    threshold, whatever its ``interference`` note says, or when it carries a note."""
    from ecoscore.runners.interference import OTHER_CPU_SHARE_THRESHOLD

    out = []
    for s in record.scenarios:
        shares: list[float] = []
        notes: set[str] = set()
        flagged = 0
        for w in s.windows:
            share = w.details.get("other_cpu_share")
            over = (
                isinstance(share, int | float)
                and not isinstance(share, bool)
                and share > OTHER_CPU_SHARE_THRESHOLD
            )
            note = w.details.get("interference")
            if over:
                shares.append(float(share))
            if note:
                notes |= {p for p in str(note).split("; ") if not (over and "of the CPUs" in p)}
            flagged += bool(over or note)
        if not flagged:
            continue
        parts = []
        if shares:
            lo, hi = min(shares), max(shares)
            span = f"{lo:.0%}" if round(lo, 2) == round(hi, 2) else f"{lo * 100:.0f}-{hi:.0%}"
            parts.append(f"other processes used {span} of the CPUs")
        parts.extend(sorted(notes))
        out.append(f"{s.name}: {'; '.join(parts)} in {flagged} of {len(s.windows)} window(s)")
    return out


class NoInterference(Rule):
    name = "no-interference"
    severity = "not-certifiable"
    description = (
        "no measured window saw other processes use more than 10 % of the CPUs "
        "(ecoscore.runners.interference.OTHER_CPU_SHARE_THRESHOLD, recomputed from each "
        "window's other_cpu_share), nor other processes on the measured GPU: they inflate "
        "the energy"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        yield from interference_seen(ctx.record)


class AssuranceDerived(Rule):
    name = "assurance-derived"
    severity = "not-certifiable"
    description = (
        "the assurance level is derived from the record (an external power log or a "
        "caller's quality make it self-reported, an estimate makes it estimated); only "
        "self-measured and lab-replicated figures certify, and a record may not claim more"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        derived, why = derive_assurance(ctx)
        claimed = ctx.record.assurance
        if claimed is not None and _rank(claimed) > _rank(derived):
            yield f"claims {claimed}, but {why}: {derived}"
        elif derived in ("self-reported", "estimated"):
            yield f"{derived}: {why}"


class SchemaCurrent(Rule):
    name = "schema-current"
    severity = "not-certifiable"
    description = (
        "the record was made by an ecoscore that records what these rules check (schema "
        "2.0); an older record is read, but does not certify"
    )

    def problems(self, ctx: Context) -> Iterator[str]:
        if ctx.record.schema_version == "1.0":
            yield (
                "schema 1.0: made before engine and meter configs, model file lists, the "
                "batch-1 quality and assurance levels were recorded"
            )


#: Every rule, in the order they are reported.
RULES: tuple[Rule, ...] = (
    FiniteNumbers(),
    WorkloadKnown(),
    WorkloadDefinition(),
    WorkloadFileChecked(),
    QualityConsistent(),
    QualityOnWhatIsTimed(),
    SummariesMatchWindows(),
    EstimateIsEstimated(),
    BoundaryMatchesMeter(),
    ModelIdentity(),
    PairedFactorMatchesWindows(),
    PairedWindowsInterleaved(),
    PairedReferenceIsTheWorkloadReference(),
    ReferenceData(),
    FullRun(),
    ValidWindows(),
    SensorUpdatesObserved(),
    SettingsChosenAsRecorded(),
    NotRedirected(),
    NoInterference(),
    AssuranceDerived(),
    SchemaCurrent(),
)


def _rank(level: str) -> int:
    return ASSURANCE_LEVELS.index(level) if level in ASSURANCE_LEVELS else -1


def derive_assurance(ctx: Context) -> tuple[str, str]:
    """The assurance level the record's content supports, and why."""
    rec, cls = ctx.record, ctx.meter_class
    if rec.meter.measurement == "ESTIMATED" or (cls is not None and cls.estimates):
        return "estimated", f"energy estimated by {rec.meter.name}"
    if rec.quality.computed_by == "caller":
        return "self-reported", "the quality was given by the caller, not computed by ecoscore"
    if (cls is not None and cls.reads_external_log) or rec.meter.name == "csv":
        return (
            "self-reported",
            "energy from an external instrument's log ecoscore did not read itself",
        )
    return "self-measured", f"ecoscore read {rec.meter.name} itself"


@dataclass(frozen=True)
class CheckReport:
    findings: tuple[Finding, ...]
    assurance: str  # derived from the record's content (lab-replicated comes from a jury)
    assurance_reason: str = ""
    rules_run: tuple[str, ...] = field(default_factory=tuple)
    #: The quality gate of the authoritative definition (installed, or the workload file);
    #: None when neither is at hand (then only the record's own gate is known).
    gate: float | None = None

    @property
    def invalid(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "invalid")

    @property
    def blockers(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "not-certifiable")

    @property
    def valid(self) -> bool:
        return not self.invalid

    @property
    def certifiable(self) -> bool:
        return not self.findings

    def failed_rules(self) -> list[str]:
        return sorted({f.rule for f in self.findings})


def check_record(record: RunRecord, definitions: dict[str, Any] | None = None) -> CheckReport:
    """Run every rule on ``record``. ``definitions`` maps the sha256 of workload files at
    hand to the WorkloadInfo each declares (for records run from a workload file)."""
    ctx = Context(record, dict(definitions or {}))
    findings = [
        Finding(rule.name, rule.severity, message)
        for rule in RULES
        for message in rule.problems(ctx)
    ]
    level, why = derive_assurance(ctx)
    gate = ctx.workload.quality_gate if ctx.workload is not None else None
    return CheckReport(tuple(findings), level, why, tuple(r.name for r in RULES), gate)
