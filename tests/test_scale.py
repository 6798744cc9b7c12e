"""The versioned scale: loading, validation, and the derivation of the thresholds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ecoscore.grading.scale import (
    CLASSES,
    ScaleError,
    _main,
    available_versions,
    derive_upper_bounds,
    load_scale,
)

SHIPPED = Path(__file__).resolve().parents[1] / "ecoscore" / "scales" / "2026.1.toml"


def test_shipped_scale_loads_with_its_version_and_the_three_workloads() -> None:
    scale = load_scale("2026.1")
    assert scale.version == "2026.1"
    assert "2026.1" in available_versions()
    assert set(scale.workloads) == {"vision-digits", "nlp-intent", "anomaly-machine"}
    assert scale.scale.scenario == "single_stream" and scale.scale.energy == "gross"
    assert "2017/1369" in scale.rescaling_rule and "30 %" in scale.rescaling_rule


def test_thresholds_follow_the_reference_point() -> None:
    ws = load_scale().for_workload("vision-digits")
    assert ws is not None
    ref = ws.reference_energy_per_inference_j
    assert ref == pytest.approx(1.4e-3)
    assert ws.upper_bounds_j == (2.49e-4, 7.87e-4, 2.49e-3, 7.87e-3)
    # the reference sits mid-scale: class C, at the geometric centre of its interval
    assert ws.class_of(ref) == "C"
    lo, hi = ws.upper_bounds_j[1], ws.upper_bounds_j[2]
    assert math.sqrt(lo * hi) == pytest.approx(ref, rel=0.01)
    # A needs more than five times less energy than the reference
    assert ws.upper_bounds_j[0] < ref / 5


def test_derive_upper_bounds_two_classes_per_decade() -> None:
    bounds = derive_upper_bounds(1.0)
    assert bounds == pytest.approx((10**-0.75, 10**-0.25, 10**0.25, 10**0.75))
    assert derive_upper_bounds(1.0, classes_per_decade=1) == pytest.approx(
        (10**-1.5, 10**-0.5, 10**0.5, 10**1.5)
    )


def test_class_of_puts_a_bound_in_the_lower_class() -> None:
    ws = load_scale().for_workload("nlp-intent")
    assert ws is not None
    assert [ws.class_of(b) for b in ws.upper_bounds_j] == ["A", "B", "C", "D"]
    assert ws.class_of(ws.upper_bounds_j[-1] * 1.0001) == "E"
    assert ws.class_of(1e-9) == "A"
    assert [c for c, _, _ in ws.intervals()] == list(CLASSES)
    assert ws.intervals()[-1][2] == math.inf


def _write_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = SHIPPED.read_text()
    assert old in text
    path = tmp_path / "2026.1.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_a_bound_that_breaks_the_rule_is_refused_naming_file_and_field(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, "B = 7.87e-4", "B = 9.5e-4")
    with pytest.raises(ScaleError) as e:
        load_scale(path=path)
    msg = str(e.value)
    assert str(path) in msg and "[workloads.vision-digits].upper_bounds_j.B" in msg
    assert "B = 0.000787" in msg  # the message gives the value the rule expects


def test_missing_field_and_bad_types_are_named(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, 'rule = "geometric-centred"\n', "")
    with pytest.raises(ScaleError, match=r"2026\.1\.toml: scale\.rule: missing"):
        load_scale(path=path)
    path = _write_variant(
        tmp_path,
        "reference_energy_per_inference_j = 1.4e-3",
        'reference_energy_per_inference_j = "1.4e-3"',
    )
    with pytest.raises(ScaleError, match="reference_energy_per_inference_j: Input should be a"):
        load_scale(path=path)
    path = _write_variant(tmp_path, 'version = "2026.1"', 'version = "2027.1"')
    with pytest.raises(ScaleError, match="does not match the file name"):
        load_scale(path=path)


def test_malformed_toml_and_unknown_versions(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[scale\n")
    with pytest.raises(ScaleError, match="malformed TOML"):
        load_scale(path=bad)
    with pytest.raises(ScaleError, match="published scales: 2026.1"):
        load_scale("2020.1")
    with pytest.raises(ScaleError, match="not of the form"):
        load_scale("../../etc/passwd")


def test_derive_command_prints_pasteable_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(["derive", "2e-4"]) == 0
    out = capsys.readouterr().out
    assert "upper_bounds_j = { A = 3.56e-05, B = 0.000112, C = 0.000356, D = 0.00112 }" in out
    assert _main(["derive", "-1"]) == 2
    assert _main(["nope"]) == 2
