"""What a comparison keeps of a record: the fields its tables, reports and policy read.

A call can receive tens of thousands of records; a parsed record holds every measured
window. ``compare`` checks and grades each record when it is loaded (integrity, signature,
the rules of ecoscore.checks), then keeps only this summary, so that its memory grows with
the number of rows (a few kB each), not with the size of the records.

The summary has the same attribute paths as the record for what it keeps
(``summary.model.name``, ``summary.meter.boundary``, ``summary.scenario("single_stream")``),
and nothing else: a check that needs the windows or the configs runs on the record itself,
before. Texts that many records share (workload, device, engine names, hashes) are interned.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from ecoscore.record import RunRecord, Stat


def _i(text: str) -> str:
    return sys.intern(text)


@dataclass(frozen=True, slots=True)
class WorkloadBrief:
    name: str
    version: str
    definition_sha256: str
    eval_data_sha256: str
    metric: str
    quality_gate: float


@dataclass(frozen=True, slots=True)
class ModelBrief:
    name: str
    file_name: str
    format: str
    sha256: str


@dataclass(frozen=True, slots=True)
class EngineBrief:
    name: str
    version: str
    device: str
    precision: str


@dataclass(frozen=True, slots=True)
class DeviceBrief:
    kind: str
    name: str
    cpu_model: str
    os: str


@dataclass(frozen=True, slots=True)
class MeterBrief:
    name: str
    source: str
    boundary: str
    measurement: str
    uncertainty_rel: float
    log_sha256: str | None


@dataclass(frozen=True, slots=True)
class QualityBrief:
    metric: str
    value: float


@dataclass(frozen=True, slots=True)
class RunBrief:
    quick: bool
    repeats: int
    seed: int


@dataclass(frozen=True, slots=True)
class ProvenanceBrief:
    ecoscore_version: str
    started_utc: str
    finished_utc: str
    notes: str | None


@dataclass(frozen=True, slots=True)
class StatBrief:
    """A summary statistic (ecoscore.record.Stat), without its model."""

    median: float
    ci_low: float
    ci_high: float
    ci_level: float
    cv: float
    n: int


@dataclass(frozen=True, slots=True)
class LatencyBrief:
    p50_ms: float
    p90_ms: float


@dataclass(frozen=True, slots=True)
class ScenarioBrief:
    """A scenario without its windows."""

    name: str
    valid: bool
    energy_per_inference_j: StatBrief | None
    latency: LatencyBrief | None
    #: How its engine thread settings were set (``Tuning.mode``; None: not recorded).
    settings_mode: str | None = None
    #: The engine threads it ran with (its own config, else the record's engine config).
    threads: int | None = None


@dataclass(frozen=True, slots=True)
class RecordSummary:
    record_id: str
    record_type: str
    replicates: str | None
    schema_version: str
    workload: WorkloadBrief
    model: ModelBrief
    engine: EngineBrief
    device: DeviceBrief
    meter: MeterBrief
    quality: QualityBrief
    run: RunBrief
    provenance: ProvenanceBrief
    scenarios: tuple[ScenarioBrief, ...]

    def scenario(self, name: str) -> ScenarioBrief | None:
        return next((s for s in self.scenarios if s.name == name), None)


def _stat(s: Stat | None) -> StatBrief | None:
    if s is None:
        return None
    return StatBrief(s.median, s.ci_low, s.ci_high, s.ci_level, s.cv, s.n)


def _threads(config: dict | None) -> int | None:
    value = (config or {}).get("threads")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def summarise(record: RunRecord) -> RecordSummary:
    w, m, e, d = record.workload, record.model, record.engine, record.device
    mt, q, r, p = record.meter, record.quality, record.run, record.provenance
    return RecordSummary(
        record_id=record.record_id,
        record_type=_i(record.record_type),
        replicates=record.replicates,
        schema_version=_i(record.schema_version),
        workload=WorkloadBrief(
            _i(w.name),
            _i(w.version),
            _i(w.definition_sha256),
            _i(w.eval_data_sha256),
            _i(w.metric),
            w.quality_gate,
        ),
        model=ModelBrief(m.name, m.file_name, _i(m.format), m.sha256),
        engine=EngineBrief(_i(e.name), _i(e.version), _i(e.device), _i(e.precision)),
        device=DeviceBrief(_i(d.kind), _i(d.name), _i(d.cpu_model), _i(d.os)),
        meter=MeterBrief(
            _i(mt.name),
            _i(mt.source),
            _i(mt.boundary),
            _i(mt.measurement),
            mt.uncertainty_rel,
            mt.log_sha256,
        ),
        quality=QualityBrief(_i(q.metric), q.value),
        run=RunBrief(r.quick, r.repeats, r.seed),
        provenance=ProvenanceBrief(_i(p.ecoscore_version), p.started_utc, p.finished_utc, p.notes),
        scenarios=tuple(
            ScenarioBrief(
                _i(s.name),
                s.valid,
                _stat(s.energy_per_inference_j),
                LatencyBrief(s.latency.p50_ms, s.latency.p90_ms) if s.latency else None,
                s.tuning.mode if s.tuning is not None else None,
                _threads(s.engine_config or e.config),
            )
            for s in record.scenarios
        ),
    )
