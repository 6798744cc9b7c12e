"""Versioned eco-score scales: absolute, per-workload thresholds on energy per inference.

A scale is a TOML file: a published one, ``ecoscore/scales/<version>.toml`` (see
docs/METHODOLOGY.md), or a call's own scale, derived from the call's records by
``ecoscore scale derive`` (:mod:`ecoscore.grading.call_scale`). The thresholds are written
out in the file and checked here against the scale's rule, so a hand edit that breaks the
rule is caught.

The rule is data: ``[scale].rule`` names an entry of :data:`SCALE_RULES`, which says which
settings the rule needs and how the bounds of each workload follow (``check``). Rules:

- ``geometric-centred``: class C is centred on each workload's reference point, each class
  spans a factor 10 ** (1 / classes_per_decade) (the published scales);
- ``reference``: the same bounds, around a reference point that is the geometric mean of the
  energies of the call's reference runs, listed in ``basis``;
- ``quantiles``: the bounds of A to D are the ``quantile_levels`` of the energies of the
  call's first cohort, listed in ``basis`` (linear interpolation between order statistics);
- ``basket-log-quantiles``: the bounds come from a ``basket`` of distinct MEASURED results
  at one boundary (published results and the project's own MEASURED records), listed in the
  file: in log10 of energy, A's upper bound is the basket's ``basket_quantiles[0]`` quantile
  and D's its ``basket_quantiles[1]`` quantile, B and C split the span between them into
  three equal classes; when that span is under 3 x ``min_class_decades`` decades, the four
  bounds are widened about their log-midpoint to exactly that span. Every class is then at
  least ``min_class_decades`` (>= 1) decade wide, so the five classes (A and E counted with
  the width of the inner ones) span at least 5 decades. The reference point is the centre of
  class C (the log-midpoint). A workload graded by this rule is graded at the basket's
  boundary only (``boundaries``).

A workload may name its own ``rule`` (default: the scale's): a scale whose tiny-* workloads
follow ``basket-log-quantiles`` keeps its demo workloads on ``geometric-centred``. A
workload marked ``demo = true`` is graded, but never certifiably: its bounds do not come
from a basket of MEASURED results (:mod:`ecoscore.grading.grade` says why).

A scale that lists its ``basis`` names every record it came from (record_id, model, energy,
MEASURED or ESTIMATED, quick or not). A basis record that is ESTIMATED (or a quick run) is
refused unless ``allow_estimated`` (``allow_quick``) is set, and then ``basis_measurement``
must say ESTIMATED: a scale built on estimates says so, and grades made with it cannot be
certified (:mod:`ecoscore.grading.grade`).

``python -m ecoscore.grading.scale derive 2e-4`` prints the bounds for a new reference point.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ecoscore.errors import InputError, UsageError
from ecoscore.files import toml_model

SCALES_DIR = Path(__file__).resolve().parents[1] / "scales"
DEFAULT_SCALE_VERSION = "2026.1"
CLASSES: tuple[str, ...] = ("A", "B", "C", "D", "E")
#: Written bounds may differ from the derived ones by this much (rounding to 3 figures).
BOUND_TOLERANCE_REL = 0.01
_VERSION = r"^(?:[a-z][a-z0-9-]{0,40}-)?\d{4}\.\d{1,3}$"
_VERSION_RE = re.compile(_VERSION)
#: Published scale files are named by a plain version (2026.1).
_PUBLISHED_RE = re.compile(r"^\d{4}\.\d{1,3}$")
#: Default quantile levels of the ``quantiles`` rule: upper bounds of A, B, C and D.
DEFAULT_QUANTILE_LEVELS = (0.10, 0.30, 0.60, 0.85)
#: Fewest basis records per workload for the ``quantiles`` rule.
MIN_QUANTILE_RECORDS = 5
#: ``basket-log-quantiles``: the fewest distinct results a basket may hold, and the
#: narrowest class a scale file may ask for (one decade: five classes span >= 5 decades).
MIN_BASKET = 10
MIN_CLASS_DECADES = 1.0

Version = Annotated[str, StringConstraints(pattern=_VERSION)]
Prose = Annotated[str, StringConstraints(min_length=1)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]


class ScaleError(InputError):
    """A scale file is invalid; the message names the file and the field."""


class UnknownScale(UsageError, ScaleError):
    """No published scale has the version asked for (a bad ``--scale`` option)."""


class _Toml(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UpperBounds(_Toml):
    """Upper bounds (inclusive) of classes A to D; E has none."""

    A: Positive
    B: Positive
    C: Positive
    D: Positive

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.A, self.B, self.C, self.D)


class BasisRecord(_Toml):
    """One record a derived scale came from."""

    record_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    model: str
    energy_per_inference_j: Positive
    measurement: Literal["MEASURED", "ESTIMATED"]
    quick: bool = False


class BasketResult(_Toml):
    """One MEASURED result of a basket scale's basket: where it comes from and its energy.

    ``id`` is the published table's ``source`` (``repository@commit:path`` of the energy
    log) for ``origin = "mlperf-tiny"``, or the record id for ``origin = "ecoscore-record"``.
    """

    id: Annotated[str, StringConstraints(pattern=r"^(\S+@\S+:\S+|[0-9a-f]{64})$")]
    origin: Literal["mlperf-tiny", "ecoscore-record"]
    round: str = ""
    system: Prose
    device_class: Prose
    energy_per_inference_j: Positive
    boundary: Prose
    measurement: Literal["MEASURED"]


class WorkloadScale(_Toml):
    """The A-to-E thresholds of one workload: upper bounds (inclusive) of A, B, C and D."""

    workload: str = ""
    reference_energy_per_inference_j: Positive
    reference_point: Prose
    upper_bounds: UpperBounds = Field(alias="upper_bounds_j")
    #: The workload definition the scale is for (a derived scale pins it); a record of
    #: another definition gets no grade.
    definition_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    #: The records the bounds came from (derived scales).
    basis: list[BasisRecord] = Field(default_factory=list)
    #: The rule of this workload's bounds when it is not the scale's (``[scale].rule``).
    rule: str | None = None
    #: A demo workload: graded, never certifiably (no basket of MEASURED results yet).
    demo: bool = False
    #: The boundaries a record's energy must be at to be graded here (empty: any).
    boundaries: tuple[str, ...] = ()
    #: ``basket-log-quantiles``: the MEASURED results the bounds come from.
    basket: list[BasketResult] = Field(default_factory=list)

    @field_validator("rule")
    @classmethod
    def _known_workload_rule(cls, v: str | None) -> str | None:
        if v is not None and v not in SCALE_RULES:
            raise ValueError(f"unknown rule {v!r}; rules: {', '.join(SCALE_RULES)}")
        return v

    def basket_energies(self) -> list[float]:
        return [b.energy_per_inference_j for b in self.basket]

    def basis_energies(self) -> list[float]:
        return [b.energy_per_inference_j for b in self.basis]

    @field_validator("reference_point")
    @classmethod
    def _one_line(cls, v: str) -> str:
        return " ".join(v.split())

    @model_validator(mode="after")
    def _increasing(self) -> WorkloadScale:
        b = self.upper_bounds_j
        if list(b) != sorted(set(b)):
            raise ValueError("upper_bounds_j: bounds must increase from A to D")
        return self

    @property
    def upper_bounds_j(self) -> tuple[float, float, float, float]:
        return self.upper_bounds.as_tuple()

    def class_of(self, energy_per_inference_j: float) -> str:
        """The class whose interval holds the energy (a bound belongs to the lower class)."""
        for letter, bound in zip(CLASSES, self.upper_bounds_j, strict=False):
            if energy_per_inference_j <= bound:
                return letter
        return CLASSES[-1]

    def intervals(self) -> list[tuple[str, float, float]]:
        """(class, lower, upper) in joules per inference; A starts at 0, E ends at infinity."""
        edges = (0.0, *self.upper_bounds_j, math.inf)
        return [(c, edges[i], edges[i + 1]) for i, c in enumerate(CLASSES)]


class ScaleHead(_Toml):
    """The ``[scale]`` table: what is graded and by which rule."""

    version: Version
    published: Prose
    quantity: Literal["energy_per_inference_j"]
    scenario: Literal["single_stream"]
    energy: Literal["gross"]
    classes: tuple[Literal["A"], Literal["B"], Literal["C"], Literal["D"], Literal["E"]]
    rule: str
    classes_per_decade: int | None = Field(default=None, ge=1, strict=True)
    quantile_levels: tuple[float, float, float, float] | None = None
    #: ``basket-log-quantiles``: the quantile levels of A's and D's upper bounds (log10 of
    #: the basket's energies) and the narrowest class, in decades.
    basket_quantiles: tuple[float, float] | None = None
    min_class_decades: float | None = Field(default=None, allow_inf_nan=False)
    rescaling_rule: Prose
    #: Derived scales: whether ESTIMATED or quick basis records were allowed, and what the
    #: basis is (ESTIMATED as soon as one basis record is).
    allow_estimated: bool = False
    allow_quick: bool = False
    basis_measurement: Literal["MEASURED", "ESTIMATED"] | None = None

    @field_validator("rescaling_rule")
    @classmethod
    def _one_line(cls, v: str) -> str:
        return " ".join(v.split())

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, v: str) -> str:
        if v not in SCALE_RULES:
            raise ValueError(f"unknown rule {v!r}; rules: {', '.join(SCALE_RULES)}")
        return v

    @model_validator(mode="after")
    def _rule_settings(self) -> ScaleHead:
        SCALE_RULES[self.rule].check_head(self)
        return self


class Scale(_Toml):
    """A whole scale file. The bounds of each workload must follow from its reference point
    by the scale's rule, so that a hand edit that breaks the rule is caught."""

    scale: ScaleHead
    workloads: dict[str, WorkloadScale] = Field(min_length=1)
    path: Path = Path()

    @field_validator("workloads")
    @classmethod
    def _named(cls, v: dict[str, WorkloadScale]) -> dict[str, WorkloadScale]:
        return {name: ws.model_copy(update={"workload": name}) for name, ws in v.items()}

    @model_validator(mode="after")
    def _bounds_follow_the_rule(self) -> Scale:
        for name, ws in self.workloads.items():
            rule = SCALE_RULES[ws.rule or self.scale.rule]
            if ws.rule is not None and ws.rule != self.scale.rule:
                try:
                    rule.check_head(self.scale)
                except ValueError as e:
                    raise ValueError(f"[workloads.{name}].rule = {ws.rule!r}: {e}") from None
            if rule.name != BasketLogQuantiles.name and ws.basket:
                raise ValueError(f"[workloads.{name}].basket: only the basket rule has one")
            if (
                self.scale.rule == BasketLogQuantiles.name
                and rule.name != BasketLogQuantiles.name
                and not ws.demo
            ):
                raise ValueError(
                    f"[workloads.{name}].demo: a workload of a basket scale whose bounds do "
                    "not come from a basket must be marked demo = true"
                )
            _check_basis(self.scale, name, ws)
            rule.check_workload(self.scale, name, ws)
        return self

    @property
    def version(self) -> str:
        return self.scale.version

    @property
    def published(self) -> str:
        return self.scale.published

    @property
    def rule(self) -> str:
        return self.scale.rule

    @property
    def classes_per_decade(self) -> int | None:
        return self.scale.classes_per_decade

    @property
    def built_on_estimates(self) -> bool:
        """The scale's bounds come from ESTIMATED records (allowed explicitly)."""
        return self.scale.basis_measurement == "ESTIMATED"

    @property
    def summary(self) -> str:
        """``call-2027.1 (quantiles of 6 records, ESTIMATED)``: the version and the basis."""
        baskets = sorted({len(ws.basket) for ws in self.workloads.values() if ws.basket})
        if baskets:
            n = "/".join(str(c) for c in baskets)
            demo = sum(ws.demo for ws in self.workloads.values())
            tail = f"; {demo} demo workload(s), not certifiable" if demo else ""
            return f"{self.version} (baskets of {n} MEASURED result(s){tail})"
        counts = {len(ws.basis) for ws in self.workloads.values()}
        if not any(counts):
            return self.version
        n = "/".join(str(c) for c in sorted(counts))
        basis = f", {self.scale.basis_measurement}" if self.scale.basis_measurement else ""
        return f"{self.version} ({self.rule} of {n} record(s){basis})"

    @property
    def rescaling_rule(self) -> str:
        return self.scale.rescaling_rule

    def for_workload(self, name: str) -> WorkloadScale | None:
        return self.workloads.get(name)

    def demo_reason(self, name: str) -> str | None:
        """Why grades of ``name`` on this scale cannot be certified (a demo workload)."""
        ws = self.workloads.get(name)
        if ws is None or not ws.demo:
            return None
        return (
            f"scale {self.version} marks {name} as a demo workload: its bounds do not come "
            "from a basket of MEASURED results"
        )

    def boundary_reason(self, name: str, boundary: str) -> str | None:
        """``no grade: ...`` when a record's energy is at a boundary the scale does not grade
        ``name`` at (its bounds come from results at another boundary)."""
        ws = self.workloads.get(name)
        if ws is None or not ws.boundaries or boundary in ws.boundaries:
            return None
        return (
            f"no grade: scale {self.version} grades {name} at boundary "
            f"{', '.join(ws.boundaries)} only (where its basket was measured); this record's "
            f"energy is at {boundary!r}, a different quantity"
        )


def derive_upper_bounds(
    reference_j: float, classes_per_decade: int = 2
) -> tuple[float, float, float, float]:
    """Upper bounds of A..D with class C centred on ``reference_j``.

    Each class spans a factor 10 ** (1 / classes_per_decade); the bound between class k and
    k + 1 (A = 0) lies half a class above the centre of class k.
    """
    step = 1.0 / classes_per_decade
    bounds = [reference_j * 10 ** ((k - 2) * step + step / 2) for k in range(4)]
    return (bounds[0], bounds[1], bounds[2], bounds[3])


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def quantile(values: list[float], level: float) -> float:
    """The ``level`` quantile with linear interpolation between order statistics (numpy's
    default, "linear")."""
    xs = sorted(values)
    pos = level * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def median(values: list[float]) -> float:
    return quantile(values, 0.5)


def basket_upper_bounds(
    energies: list[float],
    levels: tuple[float, float] = (0.10, 0.90),
    min_class_decades: float = MIN_CLASS_DECADES,
) -> tuple[tuple[float, float, float, float], float]:
    """The ``basket-log-quantiles`` bounds of A..D and the reference point (centre of C).

    In log10 of energy: lo and hi are the basket's ``levels`` quantiles (linear
    interpolation); the class width is max(min_class_decades, (hi - lo) / 3); the bounds are
    centre + (k - 1.5) x width for k = 0..3 around centre = (lo + hi) / 2. When the basket's
    spread is wide enough, A's bound is its lo quantile and D's its hi quantile; otherwise
    the bounds are widened about their midpoint to 3 x min_class_decades decades.
    """
    logs = [math.log10(e) for e in energies]
    lo, hi = quantile(logs, levels[0]), quantile(logs, levels[1])
    width = max(min_class_decades, (hi - lo) / 3)
    centre = (lo + hi) / 2
    b = [10 ** (centre + (k - 1.5) * width) for k in range(4)]
    return (b[0], b[1], b[2], b[3]), 10**centre


def _close(written: float, rule: float) -> bool:
    return abs(written - rule) <= BOUND_TOLERANCE_REL * rule


def _bounds_problem(name: str, ws: WorkloadScale, derived: tuple[float, ...], basis: str) -> None:
    for letter, written, rule in zip(CLASSES, ws.upper_bounds_j, derived, strict=False):
        if not _close(written, rule):
            shown = ", ".join(f"{c} = {v:.3g}" for c, v in zip(CLASSES, derived, strict=False))
            raise ValueError(
                f"[workloads.{name}].upper_bounds_j.{letter}: {written:g} does not follow from "
                f"{basis}; the rule gives {{ {shown} }}"
            )


def _check_basis(head: ScaleHead, name: str, ws: WorkloadScale) -> None:
    """Every scale: ESTIMATED or quick basis records only when allowed, and said."""
    seen: set[str] = set()
    for i, b in enumerate(ws.basis):
        where = f"[workloads.{name}].basis[{i}]"
        if b.record_id in seen:
            raise ValueError(f"{where}: record {b.record_id[:12]} is listed twice")
        seen.add(b.record_id)
        if b.measurement == "ESTIMATED" and not head.allow_estimated:
            raise ValueError(
                f"{where}: record {b.record_id[:12]} is ESTIMATED and scale.allow_estimated "
                "is not set"
            )
        if b.quick and not head.allow_quick:
            raise ValueError(
                f"{where}: record {b.record_id[:12]} is a quick run and scale.allow_quick is "
                "not set"
            )
        if b.measurement == "ESTIMATED" and head.basis_measurement != "ESTIMATED":
            raise ValueError(
                f"{where}: record {b.record_id[:12]} is ESTIMATED, so scale.basis_measurement "
                'must say "ESTIMATED"'
            )


class ScaleRule:
    """How a rule's bounds are derived and checked: ``check_head`` for the settings it needs
    in ``[scale]``, ``check_workload`` for one workload's bounds (both raise ValueError
    naming the key)."""

    name = ""
    description = ""
    #: Whether the rule derives its bounds from records (``ecoscore scale derive``).
    from_records = False

    def check_head(self, head: ScaleHead) -> None:
        return None

    def check_workload(self, head: ScaleHead, name: str, ws: WorkloadScale) -> None:
        return None


class GeometricCentred(ScaleRule):
    name = "geometric-centred"
    description = "class C centred on a reference point, classes_per_decade classes a decade"

    def check_head(self, head: ScaleHead) -> None:
        if head.classes_per_decade is None:
            raise ValueError(f"classes_per_decade: missing (the {head.rule} rule needs it)")

    def check_workload(self, head: ScaleHead, name: str, ws: WorkloadScale) -> None:
        ref = ws.reference_energy_per_inference_j
        derived = derive_upper_bounds(ref, head.classes_per_decade or 2)
        _bounds_problem(name, ws, derived, f"the reference point {ref:g} J")


class ReferenceRuns(GeometricCentred):
    name = "reference"
    description = "geometric-centred on the geometric mean of the call's reference runs"
    from_records = True

    def check_workload(self, head: ScaleHead, name: str, ws: WorkloadScale) -> None:
        if not ws.basis:
            raise ValueError(f"[workloads.{name}].basis: the reference rule lists its records")
        mean = geometric_mean(ws.basis_energies())
        if not _close(ws.reference_energy_per_inference_j, mean):
            raise ValueError(
                f"[workloads.{name}].reference_energy_per_inference_j: "
                f"{ws.reference_energy_per_inference_j:g} is not the geometric mean of the "
                f"basis energies ({mean:g})"
            )
        super().check_workload(head, name, ws)


class CohortQuantiles(ScaleRule):
    name = "quantiles"
    description = "bounds at quantile_levels of the energies of the call's first cohort"
    from_records = True

    def check_head(self, head: ScaleHead) -> None:
        levels = head.quantile_levels
        if levels is None:
            raise ValueError("quantile_levels: missing (the quantiles rule needs 4 levels)")
        if not (all(0 < q < 1 for q in levels) and list(levels) == sorted(set(levels))):
            raise ValueError("quantile_levels: 4 levels, increasing, strictly between 0 and 1")

    def check_workload(self, head: ScaleHead, name: str, ws: WorkloadScale) -> None:
        energies = ws.basis_energies()
        if len(energies) < MIN_QUANTILE_RECORDS:
            raise ValueError(
                f"[workloads.{name}].basis: {len(energies)} record(s); the quantiles rule "
                f"needs at least {MIN_QUANTILE_RECORDS}"
            )
        assert head.quantile_levels is not None
        derived = tuple(quantile(energies, q) for q in head.quantile_levels)
        if list(derived) != sorted(set(derived)):
            raise ValueError(
                f"[workloads.{name}].basis: the records' energies do not separate the "
                "classes (equal quantiles); more records with distinct energies are needed"
            )
        _bounds_problem(name, ws, derived, f"the quantiles of its {len(energies)} records")
        if not _close(ws.reference_energy_per_inference_j, median(energies)):
            raise ValueError(
                f"[workloads.{name}].reference_energy_per_inference_j: not the median of the "
                f"basis energies ({median(energies):g})"
            )


class BasketLogQuantiles(ScaleRule):
    name = "basket-log-quantiles"
    description = (
        "A's and D's bounds at basket_quantiles of the log energies of a basket of distinct "
        "MEASURED results, equal classes between, widened to >= min_class_decades a class"
    )

    def check_head(self, head: ScaleHead) -> None:
        levels, width = head.basket_quantiles, head.min_class_decades
        if levels is None or width is None:
            raise ValueError(
                f"basket_quantiles, min_class_decades: the {self.name} rule needs both"
            )
        if not 0 <= levels[0] < levels[1] <= 1:
            raise ValueError("basket_quantiles: two levels, increasing, between 0 and 1")
        if width < MIN_CLASS_DECADES:
            raise ValueError(
                f"min_class_decades: {width:g} is under {MIN_CLASS_DECADES:g} (five classes "
                "must span at least 5 decades)"
            )

    def check_workload(self, head: ScaleHead, name: str, ws: WorkloadScale) -> None:
        where = f"[workloads.{name}]"
        if ws.demo:
            raise ValueError(f"{where}.demo: a workload with a basket is not a demo workload")
        if len(ws.basket) < MIN_BASKET:
            raise ValueError(
                f"{where}.basket: {len(ws.basket)} result(s); the {self.name} rule needs at "
                f"least {MIN_BASKET} distinct MEASURED results"
            )
        seen: set[str] = set()
        for i, b in enumerate(ws.basket):
            if b.id in seen:
                raise ValueError(f"{where}.basket[{i}]: {b.id} is listed twice")
            seen.add(b.id)
        at = {b.boundary for b in ws.basket}
        if len(at) != 1:
            raise ValueError(
                f"{where}.basket: results at {len(at)} boundaries ({', '.join(sorted(at))}); "
                "a basket is at one boundary"
            )
        if ws.boundaries != tuple(at):
            raise ValueError(
                f"{where}.boundaries: must be [{next(iter(at))!r}], the basket's boundary "
                "(a record at another boundary measures another quantity)"
            )
        assert head.basket_quantiles is not None and head.min_class_decades is not None
        derived, ref = basket_upper_bounds(
            ws.basket_energies(), head.basket_quantiles, head.min_class_decades
        )
        _bounds_problem(name, ws, derived, f"its basket of {len(ws.basket)} results")
        if not _close(ws.reference_energy_per_inference_j, ref):
            raise ValueError(
                f"{where}.reference_energy_per_inference_j: not the centre of class C ({ref:.3g})"
            )


#: The rules, by the name a scale file gives in ``[scale].rule``.
SCALE_RULES: dict[str, ScaleRule] = {
    r.name: r
    for r in (GeometricCentred(), ReferenceRuns(), CohortQuantiles(), BasketLogQuantiles())
}


def available_versions() -> list[str]:
    return sorted(p.stem for p in SCALES_DIR.glob("*.toml") if _PUBLISHED_RE.match(p.stem))


@functools.cache
def versions_grading(workload: str) -> tuple[str, ...]:
    """The published scale versions that have thresholds for ``workload`` (for messages)."""
    return tuple(v for v in available_versions() if workload in load_scale(v).workloads)


def scale_path(version: str) -> Path:
    if not _PUBLISHED_RE.match(version):
        raise UnknownScale(
            f"scale version {version!r} is not of the form YYYY.N (e.g. {DEFAULT_SCALE_VERSION})"
        )
    path = SCALES_DIR / f"{version}.toml"
    if not path.is_file():
        known = ", ".join(available_versions()) or "none"
        raise UnknownScale(f"no scale {version!r}; published scales: {known}")
    return path


def load_scale(version: str = DEFAULT_SCALE_VERSION, path: Path | None = None) -> Scale:
    """Load and validate a scale by version, or from an explicit file."""
    path = Path(path) if path is not None else scale_path(version)
    scale = toml_model(path, Scale, ScaleError, "scale")
    if _PUBLISHED_RE.match(path.stem) and path.stem != scale.version:
        raise ScaleError(f"{path}: scale.version: {scale.version!r} does not match the file name")
    return scale.model_copy(update={"path": path})


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "derive":
        print("usage: python -m ecoscore.grading.scale derive REFERENCE_J", file=sys.stderr)
        return 2
    try:
        ref = float(argv[1])
    except ValueError:
        print(f"not a number: {argv[1]!r}", file=sys.stderr)
        return 2
    if not ref > 0:
        print("the reference energy must be > 0", file=sys.stderr)
        return 2
    bounds = derive_upper_bounds(ref)
    shown = ", ".join(f"{c} = {v:.3g}" for c, v in zip(CLASSES, bounds, strict=False))
    print(f"reference_energy_per_inference_j = {ref:g}")
    print(f"upper_bounds_j = {{ {shown} }}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
