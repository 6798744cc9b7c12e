"""The model grade: the model factor of a paired run, ``E_model / E_reference``, mapped to
A-to-E by a written, versioned table (``ecoscore/scales/model-grade-<version>.toml``).

The solution grade (``ecoscore.grading.grade``) answers "is this deployment frugal?": the
energy of a model on a device, against absolute thresholds. The model grade answers the
question juries and researchers compare models on: how much energy does this model need
against the workload's reference model, measured on the same device in the same session
(``ecoscore run --paired``, ``ecoscore.runners.paired``)?

Rules enforced here (docs/METHODOLOGY.md, "The model grade"):
- the mapping's classes are centred on a factor of 1 and span a factor of sqrt(10) each
  (C: 0.562 < f <= 1.78; B: 0.178 < f <= 0.562; A: f <= 0.178; D: 1.78 < f <= 5.62;
  E: f > 5.62); the loader recomputes the written bounds from the rule and refuses a file
  whose bounds do not follow it;
- what is graded is the single-stream factor (gross energy per inference, as the solution
  grade); the class is that of its median (a bound belongs to the lower, better class);
- class probabilities come from the factor's confidence interval as for the solution
  grade (model-based): ln(factor) normal around ln(median), sigma the quadratic sum of the
  interval's (``ecoscore.grading.uncertainty.repeats_log_sigma``) and the between-run term
  (``BETWEEN_RUN_LOG_SIGMA``: one session's pairs do not show how the factor moves from one
  session to the next). The meter's stated uncertainty is not added: both energies come
  from the same meter on the same device in the same session, so its gain error cancels
  in the ratio (an error that depends on the workload, as an estimate's can, does not:
  that is why an ESTIMATED factor gives a provisional grade);
- eligibility is the solution grade's: reference data, no invalid rule, the quality gate
  of the installed workload; and both models' single-stream windows valid. An ESTIMATED
  factor gives a provisional grade (``A*``), never certifiable.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ecoscore.checks import CheckReport, check_record
from ecoscore.errors import InputError
from ecoscore.files import toml_model
from ecoscore.grading.scale import (
    BOUND_TOLERANCE_REL,
    CLASSES,
    SCALES_DIR,
    UpperBounds,
    WorkloadScale,
    derive_upper_bounds,
)
from ecoscore.grading.uncertainty import (
    BETWEEN_RUN_LOG_SIGMA,
    class_probabilities,
    format_probabilities,
)
from ecoscore.grading.uncertainty import repeats_log_sigma as _repeats_log_sigma
from ecoscore.record import RunRecord

DEFAULT_MAPPING_VERSION = "2026.1"
#: The factor the mapping's class C is centred on: as frugal as the reference model.
CENTRE = 1.0


class MappingError(InputError):
    """A model-grade mapping file is invalid; the message names the file and the key."""


class _Toml(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MappingHead(_Toml):
    version: str = Field(pattern=r"^\d{4}\.\d{1,3}$")
    published: str = Field(min_length=1)
    quantity: Literal["model_factor"]
    scenario: Literal["single_stream"]
    energy: Literal["gross"]
    classes: tuple[Literal["A"], Literal["B"], Literal["C"], Literal["D"], Literal["E"]]
    rule: Literal["geometric-centred-on-one"]
    classes_per_decade: int = Field(ge=1, strict=True)
    upper_bounds: UpperBounds

    @model_validator(mode="after")
    def _bounds_follow_the_rule(self) -> MappingHead:
        rule = derive_upper_bounds(CENTRE, self.classes_per_decade)
        for letter, written, want in zip(CLASSES, self.upper_bounds.as_tuple(), rule, strict=False):
            if abs(written - want) > BOUND_TOLERANCE_REL * want:
                shown = ", ".join(f"{c} = {v:.3g}" for c, v in zip(CLASSES, rule, strict=False))
                raise ValueError(
                    f"upper_bounds.{letter}: {written:g} does not follow from the rule "
                    f"(classes centred on a factor of {CENTRE:g}, {self.classes_per_decade} a "
                    f"decade); the rule gives {{ {shown} }}"
                )
        return self


class Mapping(_Toml):
    """A model-grade mapping file: factor bounds of classes A to D (E has none)."""

    mapping: MappingHead
    path: Path = Path()

    @property
    def version(self) -> str:
        return self.mapping.version

    @property
    def upper_bounds(self) -> tuple[float, float, float, float]:
        return self.mapping.upper_bounds.as_tuple()

    @functools.cached_property
    def classes(self) -> WorkloadScale:
        """The bounds as a scale's (a factor in place of joules): the class of a value and
        the class probabilities are computed as the solution grade's are."""
        return WorkloadScale.model_validate(
            {
                "workload": "model-factor",
                "reference_energy_per_inference_j": CENTRE,
                "reference_point": f"model factor {CENTRE:g}: as frugal as the reference",
                "upper_bounds_j": self.mapping.upper_bounds.model_dump(),
            }
        )

    def class_of(self, factor: float) -> str:
        return self.classes.class_of(factor)


def mapping_path(version: str) -> Path:
    return SCALES_DIR / f"model-grade-{version}.toml"


@functools.cache
def load_mapping(version: str = DEFAULT_MAPPING_VERSION, path: Path | None = None) -> Mapping:
    """Load and validate a model-grade mapping by version, or from an explicit file."""
    path = Path(path) if path is not None else mapping_path(version)
    mapping = toml_model(path, Mapping, MappingError, "model-grade mapping")
    if path.name.startswith("model-grade-") and path.stem != f"model-grade-{mapping.version}":
        raise MappingError(
            f"{path}: mapping.version: {mapping.version!r} does not match the file name"
        )
    return mapping.model_copy(update={"path": path})


@dataclass(frozen=True)
class ModelGrade:
    """The model grade of a paired record, beside its solution grade."""

    mapping_version: str
    reference: str  # the reference model's name
    reference_sha256: str
    letter: str | None  # None: no model grade (see reason)
    reason: str | None
    provisional: bool  # the factor is a ratio of ESTIMATED energies
    measurement: str
    factor: float | None  # single-stream median
    factor_ci: tuple[float, float] | None
    ci_level: float | None
    pairs: int
    sigma_log: float | None
    probabilities: dict[str, float] = field(default_factory=dict)
    #: The offline scenario's factor, for information (not graded).
    offline_factor: float | None = None

    @property
    def mark(self) -> str:
        """``A`` for a measured factor, ``A*`` for an estimated one, ``-`` for no grade."""
        if self.letter is None:
            return "-"
        return self.letter + ("*" if self.provisional else "")

    @property
    def probabilities_text(self) -> str:
        return format_probabilities(self.probabilities) if self.probabilities else ""

    @property
    def factor_text(self) -> str:
        """``0.0812 (0.0751-0.0877, 93.75%)``: the factor and its interval, or ``""``."""
        if self.factor is None:
            return ""
        if self.factor_ci is None or not self.ci_level:
            return f"{self.factor:.3g}"
        lo, hi = self.factor_ci
        return f"{self.factor:.3g} ({lo:.3g}-{hi:.3g}, {self.ci_level * 100:.4g}%)"

    @property
    def summary(self) -> str:
        """``A* factor 0.0812 (...) vs digits-cnn; A (97%) / B (3%)`` or the reason."""
        if self.letter is None:
            return self.reason or "no model grade"
        return (
            f"{self.mark} factor {self.factor_text} vs {self.reference}; "
            f"{self.probabilities_text} (mapping {self.mapping_version})"
        )

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["mark"] = self.mark
        doc["probabilities_text"] = self.probabilities_text
        doc["factor_ci"] = list(self.factor_ci) if self.factor_ci else None
        return doc


def model_grade(
    record: RunRecord, checks: CheckReport | None = None, mapping: Mapping | None = None
) -> ModelGrade | None:
    """The model grade of a paired record (None for a record without a ``paired``
    section); the record is not modified. ``checks`` is the record's check report, computed
    here when not given."""
    from ecoscore.grading.grade import data_reason, quality_gate_reason

    paired = record.paired
    if paired is None:
        return None
    table = mapping if mapping is not None else load_mapping()
    report = checks if checks is not None else check_record(record)
    single = paired.scenario("single_stream")
    model_single = record.scenario("single_stream")
    stat = single.factor if single is not None else None
    offline = paired.scenario("offline")

    reason = data_reason(record)
    if reason is None and report.invalid:
        reason = f"no grade: {report.invalid[0].line()}"
    if reason is None:
        reason = quality_gate_reason(record, report)
    if reason is None:
        if single is None or model_single is None:
            reason = "no model grade: the paired run has no single-stream scenario"
        elif not (single.reference.valid and model_single.valid):
            reason = "no model grade: a single-stream window of the pair is invalid"
        elif stat is None or not stat.median > 0:
            reason = "no model grade: no pair of windows gives a factor"

    letter: str | None = None
    probs: dict[str, float] = {}
    sigma: float | None = None
    if reason is None and stat is not None:
        letter = table.class_of(stat.median)
        within, _ = _repeats_log_sigma(stat)
        sigma = math.hypot(within, BETWEEN_RUN_LOG_SIGMA)
        probs = class_probabilities(stat.median, sigma, table.classes)
    usable = stat is not None and math.isfinite(stat.median)
    return ModelGrade(
        mapping_version=table.version,
        reference=paired.reference.name,
        reference_sha256=paired.reference.sha256,
        letter=letter,
        reason=reason,
        provisional=paired.measurement == "ESTIMATED" or record.meter.measurement == "ESTIMATED",
        measurement=paired.measurement,
        factor=stat.median if stat is not None and usable else None,
        factor_ci=(stat.ci_low, stat.ci_high) if stat is not None and usable else None,
        ci_level=stat.ci_level if stat is not None else None,
        pairs=stat.n if stat is not None else 0,
        sigma_log=sigma,
        probabilities=probs,
        offline_factor=(
            offline.factor.median if offline is not None and offline.factor is not None else None
        ),
    )
