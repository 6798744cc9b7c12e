"""Versioned eco-score scales: absolute, per-workload thresholds on energy per inference.

A scale is a TOML file ``ecoscore/scales/<version>.toml`` (see docs/METHODOLOGY.md). The
thresholds are written out in the file and checked here against the rule that derives them
from each workload's reference point, so a hand edit that breaks the rule is caught.

``python -m ecoscore.grading.scale derive 2e-4`` prints the bounds for a new reference point.
"""

from __future__ import annotations

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
_VERSION = r"^\d{4}\.\d{1,3}$"
_VERSION_RE = re.compile(_VERSION)

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


class WorkloadScale(_Toml):
    """The A-to-E thresholds of one workload: upper bounds (inclusive) of A, B, C and D."""

    workload: str = ""
    reference_energy_per_inference_j: Positive
    reference_point: Prose
    upper_bounds: UpperBounds = Field(alias="upper_bounds_j")

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
    rule: Literal["geometric-centred"]
    classes_per_decade: int = Field(ge=1, strict=True)
    rescaling_rule: Prose

    @field_validator("rescaling_rule")
    @classmethod
    def _one_line(cls, v: str) -> str:
        return " ".join(v.split())


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
        per_decade = self.scale.classes_per_decade
        for name, ws in self.workloads.items():
            derived = derive_upper_bounds(ws.reference_energy_per_inference_j, per_decade)
            for letter, written, rule in zip(CLASSES, ws.upper_bounds_j, derived, strict=False):
                if abs(written - rule) > BOUND_TOLERANCE_REL * rule:
                    shown = ", ".join(
                        f"{c} = {v:.3g}" for c, v in zip(CLASSES, derived, strict=False)
                    )
                    raise ValueError(
                        f"[workloads.{name}].upper_bounds_j.{letter}: {written:g} does not "
                        f"follow from the reference point "
                        f"{ws.reference_energy_per_inference_j:g} J; the rule gives "
                        f"{{ {shown} }}"
                    )
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
    def classes_per_decade(self) -> int:
        return self.scale.classes_per_decade

    @property
    def rescaling_rule(self) -> str:
        return self.scale.rescaling_rule

    def for_workload(self, name: str) -> WorkloadScale | None:
        return self.workloads.get(name)


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


def available_versions() -> list[str]:
    return sorted(p.stem for p in SCALES_DIR.glob("*.toml") if _VERSION_RE.match(p.stem))


def scale_path(version: str) -> Path:
    if not _VERSION_RE.match(version):
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
    if _VERSION_RE.match(path.stem) and path.stem != scale.version:
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
