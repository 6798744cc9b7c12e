"""From a run record and an explicit scale to an A-to-E grade. The record is only read.

Order of the checks (docs/METHODOLOGY.md, "From a record to a grade"):
1. the record's evaluation data is the reference data (``data_reason``): non-reference data
   is scored for information and never graded;
2. the scale has thresholds for the record's workload, at the record's boundary (a scale
   whose bounds come from a basket measured at one boundary grades only there);
3. the record passes the rules of ecoscore.checks that make its figures usable, and a
   scale that pins a workload definition (a call's scale) grades only that definition;
4. the quality reaches the installed workload's gate (else: not eligible, no grade);
5. the single-stream scenario has a valid energy per inference;
6. the class of the median, and the probability of each class (ecoscore.grading.uncertainty).
A paired record (``ecoscore run --paired``) also gets a model grade beside it
(``Grade.model_grade``, ecoscore.grading.model_grade), with the same eligibility.
An ESTIMATED energy gives a provisional grade, marked with an asterisk, never certifiable;
nor is a grade on a scale built on ESTIMATED records, nor one of a workload the scale
marks demo (its bounds come from no basket of MEASURED results); data whose checksums a test pinned
(``data_pinned_by == "test-hook"``) can be graded but never certified.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ecoscore.benchmarks.metrics import gate_relation, passes_gate
from ecoscore.checks import CheckReport, check_record
from ecoscore.grading.scale import Scale, versions_grading
from ecoscore.grading.uncertainty import (
    class_probabilities,
    combined_log_sigma,
    format_probabilities,
)
from ecoscore.record import RunRecord

if TYPE_CHECKING:
    from ecoscore.grading.model_grade import ModelGrade

PROVISIONAL_SUFFIX = "*"
PROVISIONAL_NOTE = "* provisional: energy ESTIMATED, not measured; cannot be certified"


@dataclass(frozen=True)
class Grade:
    record_id: str
    workload: str
    workload_version: str
    model: str
    scale_version: str
    letter: str | None  # None: no grade (see reason)
    eligible: bool
    reason: str | None
    provisional: bool  # energy ESTIMATED
    certifiable: bool
    certification_blockers: tuple[str, ...]
    measurement: str
    boundary: str
    quality_metric: str
    quality_value: float
    quality_gate: float
    energy_per_inference_j: float | None  # single-stream gross median (None if absent)
    energy_ci_j: tuple[float, float] | None
    sigma_log: float | None
    sigma_sources: dict[str, Any] = field(default_factory=dict)
    probabilities: dict[str, float] = field(default_factory=dict)
    #: Derived from the record's content (docs/trust.md), never from its own claim.
    assurance: str = ""
    #: Names of the rules of ecoscore.checks the record fails.
    failed_rules: tuple[str, ...] = ()
    #: The model grade beside it, for a paired record (ecoscore.grading.model_grade);
    #: None for a record without a ``paired`` section.
    model_grade: ModelGrade | None = None
    #: What in the scale keeps the grade from certification: ``scale-estimated`` (built on
    #: ESTIMATED records), ``demo-workload`` (the scale marks the workload demo).
    scale_blockers: tuple[str, ...] = ()

    @property
    def mark(self) -> str:
        """``B`` for a measured grade, ``B*`` for a provisional one, ``-`` for no grade."""
        if self.letter is None:
            return "-"
        return self.letter + (PROVISIONAL_SUFFIX if self.provisional else "")

    @property
    def probabilities_text(self) -> str:
        return format_probabilities(self.probabilities) if self.probabilities else ""

    @property
    def summary(self) -> str:
        if self.letter is None:
            return self.reason or "no grade"
        text = f"{self.mark}  {self.probabilities_text}"
        return f"{text}  (provisional)" if self.provisional else text

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["mark"] = self.mark
        doc["probabilities_text"] = self.probabilities_text
        doc["energy_ci_j"] = list(self.energy_ci_j) if self.energy_ci_j else None
        doc["certification_blockers"] = list(self.certification_blockers)
        doc["failed_rules"] = list(self.failed_rules)
        doc["model_grade"] = self.model_grade.to_dict() if self.model_grade is not None else None
        doc["scale_blockers"] = list(self.scale_blockers)
        return doc


def installed_gate(record: RunRecord, checks: CheckReport | None = None) -> float:
    """The workload's quality gate from its authoritative definition (installed here, or
    the workload file at hand); the record's own figure only when neither is (a workload
    this ecoscore does not have gets no grade anyway; a workload-file record whose file is
    not given is not certifiable)."""
    report = checks if checks is not None else check_record(record)
    return report.gate if report.gate is not None else record.workload.quality_gate


def quality_gate_reason(record: RunRecord, checks: CheckReport | None = None) -> str | None:
    """``not eligible: accuracy 0.41 < gate 0.95`` when the quality misses the installed
    workload's gate, never the gate a record states (for RMSE the gate is a maximum:
    ``rmse 3.2 > gate 2.5``)."""
    metric = record.quality.metric
    value, gate = record.quality.value, installed_gate(record, checks)
    if passes_gate(metric, value, gate):
        return None
    return f"not eligible: {metric} {value:.4g} {gate_relation(metric, False)} gate {gate:.4g}"


def data_reason(record: RunRecord) -> str | None:
    """Why the record's evaluation data cannot be graded, or None when it can: the one
    place that decides "reference data: gradable" against "non-reference: never graded"."""
    w = record.workload
    if w.reference_data is True:
        return None
    if w.reference_data is False:
        why = f" ({w.data_check})" if w.data_check else ""
        return f"no grade: non-reference data{why}; scored for information only"
    if w.data_source != "bundled":  # a record made before data checks existed
        return (
            f"no grade: user data ({w.data_source}) from a record made before data checks "
            "existed; non-reference data, scored for information only"
        )
    return None


def grade_record(record: RunRecord, scale: Scale, checks: CheckReport | None = None) -> Grade:
    """Grade ``record`` with ``scale``; the record is not modified. ``checks`` is the
    record's check report (ecoscore.checks), computed here when not given."""
    from ecoscore.grading.model_grade import model_grade as model_grade_of

    report = checks if checks is not None else check_record(record)
    stat = None
    single = record.scenario("single_stream")
    energy_reason: str | None = None
    if single is None:
        energy_reason = "no grade: the record has no single-stream scenario"
    elif single.energy_per_inference_j is None:
        energy_reason = "no grade: the single-stream scenario has no energy per inference"
    elif not single.valid:
        energy_reason = "no grade: the single-stream measurement is invalid (see its windows)"
    else:
        stat = single.energy_per_inference_j
        if not stat.median > 0:
            energy_reason = f"no grade: energy per inference {stat.median:g} J is not positive"
            stat = None
    shown = single.energy_per_inference_j if single is not None else None

    workload_scale = scale.for_workload(record.workload.name)
    reason = data_reason(record)  # non-reference data: never graded, whatever else holds
    if reason is None and workload_scale is None:
        known = ", ".join(scale.workloads)
        others = [v for v in versions_grading(record.workload.name) if v != scale.version]
        hint = f"; published scale(s) that do: {', '.join(others)}" if others else ""
        reason = (
            f"no grade: scale {scale.version} has no thresholds for workload "
            f"{record.workload.name!r} (it grades: {known}){hint}"
        )
    elif reason is None and scale.boundary_reason(record.workload.name, record.meter.boundary):
        reason = scale.boundary_reason(record.workload.name, record.meter.boundary)
    elif reason is None and report.invalid:
        first = report.invalid[0]
        reason = f"no grade: {first.line()}"
    elif (
        reason is None
        and workload_scale is not None
        and workload_scale.definition_sha256 is not None
        and workload_scale.definition_sha256 != record.workload.definition_sha256
    ):
        reason = (
            f"no grade: scale {scale.version} is for the {record.workload.name} definition "
            f"{workload_scale.definition_sha256[:12]}, the record ran "
            f"{record.workload.definition_sha256[:12]}"
        )
    elif reason is None:
        reason = quality_gate_reason(record, report) or energy_reason

    provisional = record.meter.measurement == "ESTIMATED"
    letter: str | None = None
    probs: dict[str, float] = {}
    sigma_total: float | None = None
    sigma_sources: dict[str, Any] = {}
    if reason is None and workload_scale is not None and stat is not None:
        letter = workload_scale.class_of(stat.median)
        sigma = combined_log_sigma(stat, record.meter.uncertainty_rel)
        sigma_total = sigma.total
        sigma_sources = {
            "repeats": sigma.repeats,
            "repeats_from": sigma.repeats_from,
            "meter": sigma.meter,
            "meter_uncertainty_rel": record.meter.uncertainty_rel,
            "between_runs": sigma.between_runs,
            "between_runs_from": "floor ln(1.35)/2 (no replication data yet)",
            "n": stat.n,
        }
        probs = class_probabilities(stat.median, sigma.total, workload_scale)

    blockers: list[str] = []
    if letter is None:
        blockers.append("no grade")
    blockers.extend(f.line() for f in report.findings)
    scale_blockers: list[str] = []
    if scale.built_on_estimates:
        blockers.append(f"scale {scale.version} is built on ESTIMATED records")
        scale_blockers.append("scale-estimated")
    demo = scale.demo_reason(record.workload.name)
    if demo is not None:
        blockers.append(demo)
        scale_blockers.append("demo-workload")
    return Grade(
        record_id=record.record_id,
        workload=record.workload.name,
        workload_version=record.workload.version,
        model=record.model.name,
        scale_version=scale.version,
        letter=letter,
        eligible=letter is not None,
        reason=reason,
        provisional=provisional,
        certifiable=not blockers,
        certification_blockers=tuple(blockers),
        measurement=record.meter.measurement,
        boundary=record.meter.boundary,
        quality_metric=record.quality.metric,
        quality_value=record.quality.value,
        quality_gate=installed_gate(record, report),
        energy_per_inference_j=shown.median if shown is not None else None,
        energy_ci_j=(shown.ci_low, shown.ci_high) if shown is not None else None,
        sigma_log=sigma_total,
        sigma_sources=sigma_sources,
        probabilities=probs,
        assurance=report.assurance,
        failed_rules=tuple(report.failed_rules()),
        model_grade=model_grade_of(record, report) if record.paired is not None else None,
        scale_blockers=tuple(scale_blockers),
    )
