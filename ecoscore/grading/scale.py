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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecoscore.files import read_toml

SCALES_DIR = Path(__file__).resolve().parents[1] / "scales"
DEFAULT_SCALE_VERSION = "2026.1"
CLASSES: tuple[str, ...] = ("A", "B", "C", "D", "E")
#: Written bounds may differ from the derived ones by this much (rounding to 3 figures).
BOUND_TOLERANCE_REL = 0.01
_VERSION_RE = re.compile(r"^\d{4}\.\d{1,3}$")
_RULES = ("geometric-centred",)


class ScaleError(Exception):
    """A scale cannot be found or is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class WorkloadScale:
    """The A-to-E thresholds of one workload: upper bounds (inclusive) of A, B, C and D."""

    workload: str
    reference_energy_per_inference_j: float
    reference_point: str
    upper_bounds_j: tuple[float, float, float, float]

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


@dataclass(frozen=True)
class Scale:
    version: str
    path: Path
    published: str
    quantity: str
    scenario: str
    energy: str
    rule: str
    classes_per_decade: int
    rescaling_rule: str
    workloads: dict[str, WorkloadScale]

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
        raise ScaleError(f"scale version {version!r} is not of the form YYYY.N (e.g. 2026.1)")
    path = SCALES_DIR / f"{version}.toml"
    if not path.is_file():
        known = ", ".join(available_versions()) or "none"
        raise ScaleError(f"no scale {version!r} ({path} is missing); published scales: {known}")
    return path


def load_scale(version: str = DEFAULT_SCALE_VERSION, path: Path | None = None) -> Scale:
    """Load and validate a scale by version, or from an explicit file."""
    path = Path(path) if path is not None else scale_path(version)
    doc = read_toml(path, ScaleError)
    return _parse_scale(doc, path)


def _field(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in table:
        raise ScaleError(f"{where}: missing field '{key}'")
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ScaleError(f"{where}.{key}: expected {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _parse_scale(doc: dict[str, Any], path: Path) -> Scale:
    head = _field(doc, "scale", dict, str(path))
    where = f"{path}: [scale]"
    version = _field(head, "version", str, where)
    if not _VERSION_RE.match(version):
        raise ScaleError(f"{where}.version: {version!r} is not of the form YYYY.N")
    if _VERSION_RE.match(path.stem) and path.stem != version:
        raise ScaleError(f"{where}.version: {version!r} does not match the file name")
    classes = _field(head, "classes", list, where)
    if tuple(classes) != CLASSES:
        raise ScaleError(f"{where}.classes: expected {list(CLASSES)}, got {classes!r}")
    rule = _field(head, "rule", str, where)
    if rule not in _RULES:
        raise ScaleError(f"{where}.rule: unknown rule {rule!r} (known: {', '.join(_RULES)})")
    per_decade = _field(head, "classes_per_decade", int, where)
    if per_decade < 1:
        raise ScaleError(f"{where}.classes_per_decade: must be at least 1, got {per_decade}")
    for key, expected in (
        ("quantity", "energy_per_inference_j"),
        ("scenario", "single_stream"),
        ("energy", "gross"),
    ):
        value = _field(head, key, str, where)
        if value != expected:
            raise ScaleError(f"{where}.{key}: this ecoscore grades {expected!r}, not {value!r}")
    workloads_doc = _field(doc, "workloads", dict, str(path))
    if not workloads_doc:
        raise ScaleError(f"{path}: [workloads] is empty")
    workloads = {
        name: _parse_workload(name, table, per_decade, f"{path}: [workloads.{name}]")
        for name, table in workloads_doc.items()
    }
    return Scale(
        version=version,
        path=path,
        published=_field(head, "published", str, where),
        quantity=head["quantity"],
        scenario=head["scenario"],
        energy=head["energy"],
        rule=rule,
        classes_per_decade=per_decade,
        rescaling_rule=" ".join(_field(head, "rescaling_rule", str, where).split()),
        workloads=workloads,
    )


def _parse_workload(name: str, table: Any, per_decade: int, where: str) -> WorkloadScale:
    if not isinstance(table, dict):
        raise ScaleError(f"{where}: expected a table")
    ref = float(_field(table, "reference_energy_per_inference_j", (int, float), where))
    if not (ref > 0 and math.isfinite(ref)):
        raise ScaleError(f"{where}.reference_energy_per_inference_j: must be > 0, got {ref}")
    note = _field(table, "reference_point", str, where)
    bounds_doc = _field(table, "upper_bounds_j", dict, where)
    bounds: list[float] = []
    for letter in CLASSES[:-1]:
        value = _field(bounds_doc, letter, (int, float), f"{where}.upper_bounds_j")
        bounds.append(float(value))
    extra = set(bounds_doc) - set(CLASSES[:-1])
    if extra:
        raise ScaleError(
            f"{where}.upper_bounds_j: unexpected key(s) {sorted(extra)}; E has no upper bound"
        )
    if any(not (b > 0 and math.isfinite(b)) for b in bounds) or bounds != sorted(set(bounds)):
        raise ScaleError(f"{where}.upper_bounds_j: bounds must be positive and increasing")
    derived = derive_upper_bounds(ref, per_decade)
    for letter, written, rule_value in zip(CLASSES, bounds, derived, strict=False):
        if abs(written - rule_value) > BOUND_TOLERANCE_REL * rule_value:
            shown = ", ".join(f"{c} = {v:.3g}" for c, v in zip(CLASSES, derived, strict=False))
            raise ScaleError(
                f"{where}.upper_bounds_j.{letter}: {written:g} does not follow from the "
                f"reference point {ref:g} J; the rule gives {{ {shown} }}"
            )
    return WorkloadScale(
        workload=name,
        reference_energy_per_inference_j=ref,
        reference_point=" ".join(note.split()),
        upper_bounds_j=(bounds[0], bounds[1], bounds[2], bounds[3]),
    )


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
