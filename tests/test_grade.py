"""Grading a record: quality gate, provisional marks, class probabilities."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from ecoscore.grading.grade import grade_record
from ecoscore.grading.scale import load_scale
from ecoscore.grading.uncertainty import (
    class_probabilities,
    combined_log_sigma,
    format_probabilities,
    log_sigma_of_rel,
    rounded_percentages,
)
from ecoscore.record import Stat
from tests.record_factory import K, make_record


@pytest.fixture(scope="module")
def scale():
    return load_scale("2026.1")


def test_reference_record_at_the_reference_point_grades_c(scale) -> None:
    grade = grade_record(make_record(energy_per_inference_j=2e-4 * K), scale)
    assert grade.letter == "C" and grade.mark == "C"
    assert grade.eligible and not grade.provisional and grade.certifiable
    assert grade.scale_version == "2026.1"
    assert grade.energy_per_inference_j == pytest.approx(2e-4 * K)
    assert grade.probabilities["C"] > 0.99


@pytest.mark.parametrize(
    ("energy", "letter"),
    [(1e-5, "A"), (5e-5, "B"), (3e-4, "C"), (5e-4, "D"), (2e-3, "E")],
)
def test_each_class_is_reached(scale, energy: float, letter: str) -> None:
    assert grade_record(make_record(energy_per_inference_j=energy * K), scale).letter == letter


def test_random_weights_are_not_eligible_with_quality_and_gate(scale) -> None:
    grade = grade_record(make_record(quality=0.41, model_name="digits-cnn-random"), scale)
    assert grade.letter is None and not grade.eligible and not grade.certifiable
    assert grade.reason == "not eligible: accuracy 0.41 < gate 0.95"
    assert grade.mark == "-" and grade.probabilities == {}
    assert grade.energy_per_inference_j == pytest.approx(2e-4 * K)  # still shown


def test_measured_and_estimated_records_get_different_marks(scale) -> None:
    measured = grade_record(make_record(measurement="MEASURED"), scale)
    estimated = grade_record(make_record(measurement="ESTIMATED"), scale)
    assert measured.letter == estimated.letter == "C"
    assert measured.mark == "C" and estimated.mark == "C*"
    assert estimated.provisional and not estimated.certifiable
    assert estimated.failed_rules == ("assurance-derived",) and estimated.assurance == "estimated"
    assert any("estimated: energy estimated by" in b for b in estimated.certification_blockers)
    assert measured.certifiable and measured.assurance == "self-measured"
    # the estimate's 50 % meter uncertainty spreads the probability over the neighbours
    assert estimated.probabilities["C"] < measured.probabilities["C"]
    assert estimated.probabilities["B"] == pytest.approx(estimated.probabilities["D"], abs=0.01)
    assert "(provisional)" in estimated.summary


def test_energy_on_a_bound_is_an_even_split(scale) -> None:
    bound = scale.for_workload("vision-digits").upper_bounds_j[1]  # B / C
    grade = grade_record(make_record(energy_per_inference_j=bound), scale)
    assert grade.letter == "B"
    assert grade.probabilities["B"] == pytest.approx(0.5, abs=0.01)
    assert grade.probabilities["C"] == pytest.approx(0.5, abs=0.01)
    assert sum(grade.probabilities.values()) == pytest.approx(1.0)


def test_sigma_combines_ci_of_the_repeats_and_the_meter() -> None:
    stat = Stat(
        median=1.0, ci_low=math.exp(-0.1), ci_high=math.exp(0.1), ci_level=0.95, cv=0.05, n=7
    )
    sigma = combined_log_sigma(stat, 0.05)
    assert sigma.repeats_from == "ci"
    assert sigma.repeats == pytest.approx(0.1 / NormalDist().inv_cdf(0.975))
    assert sigma.meter == pytest.approx(math.sqrt(math.log(1 + 0.05**2)))
    # the between-run floor: the x1.35 same-hardware replication tolerance read as 2 sigma
    assert sigma.between_runs == pytest.approx(math.log(1.35) / 2) == pytest.approx(0.150, abs=1e-3)
    assert sigma.total == pytest.approx(math.hypot(sigma.repeats, sigma.meter, sigma.between_runs))


def test_sigma_falls_back_to_cv_then_to_none() -> None:
    no_ci = Stat(median=1.0, ci_low=1.0, ci_high=1.0, ci_level=0.0, cv=0.1, n=4)
    sigma = combined_log_sigma(no_ci, 0.0)
    assert sigma.repeats_from == "cv"
    assert sigma.repeats == pytest.approx(log_sigma_of_rel(0.1) / 2)
    single = Stat(median=1.0, ci_low=1.0, ci_high=1.0, ci_level=0.0, cv=0.0, n=1)
    assert combined_log_sigma(single, 0.0).repeats_from == "none"


def test_class_probabilities_match_the_normal_model(scale) -> None:
    ws = scale.for_workload("vision-digits")
    b_c = ws.upper_bounds_j[1]
    sigma = 0.3
    median = b_c * math.exp(sigma)  # one sigma above the B/C bound
    probs = class_probabilities(median, sigma, ws)
    p_not_above_bc = NormalDist().cdf(-1.0)
    assert probs["A"] + probs["B"] == pytest.approx(p_not_above_bc, abs=1e-9)
    assert sum(probs.values()) == pytest.approx(1.0)
    assert class_probabilities(median, 0.0, ws) == {"A": 0, "B": 0, "C": 1, "D": 0, "E": 0}


def test_probability_text_and_rounding() -> None:
    assert format_probabilities({"A": 0.0, "B": 0.84, "C": 0.16, "D": 0.0, "E": 0.0}) == (
        "B (84%) / C (16%)"
    )
    pct = rounded_percentages({"A": 0.333, "B": 0.333, "C": 0.334, "D": 0.0, "E": 0.0})
    assert sum(pct.values()) == 100 and pct["C"] == 34
    assert format_probabilities({"A": 0.004, "B": 0.996, "C": 0, "D": 0, "E": 0}) == "B (100%)"


def test_workload_without_thresholds_gets_no_grade(scale) -> None:
    rec = make_record(updates={"workload": {"name": "no-such-task"}})
    grade = grade_record(rec, scale)
    assert grade.letter is None
    assert "no thresholds for workload 'no-such-task'" in (grade.reason or "")


def test_invalid_measurement_gets_no_grade(scale) -> None:
    grade = grade_record(make_record(valid=False), scale)
    assert grade.letter is None
    assert grade.reason == "no grade: the single-stream scenario has no energy per inference"


def test_quick_runs_are_graded_but_not_certifiable(scale) -> None:
    grade = grade_record(make_record(quick=True), scale)
    assert grade.letter == "C" and not grade.certifiable
    assert grade.certification_blockers == ("[full-run] a quick (smoke) run",)


def test_grading_does_not_change_the_record(scale) -> None:
    rec = make_record()
    before = rec.model_dump(mode="json")
    grade_record(rec, scale)
    assert rec.model_dump(mode="json") == before
    assert rec.content_sha256() == rec.record_id


def test_grade_to_dict_is_json_ready(scale) -> None:
    import json

    doc = grade_record(make_record(measurement="ESTIMATED"), scale).to_dict()
    assert json.loads(json.dumps(doc))["mark"] == "C*"
    assert doc["probabilities_text"].startswith("B (")
    assert doc["scale_version"] == "2026.1"


def _with_data(**fields):
    from tests.record_factory import make_record as mk

    return mk(updates={"workload": fields})


def test_the_data_decision_reference_gradable_non_reference_never():
    from ecoscore.checks import TEST_HOOK_BLOCKER
    from ecoscore.grading.grade import data_reason

    scale = load_scale("2026.1")
    ok = _with_data(reference_data=True, data_pinned_by="bundled")
    assert data_reason(ok) is None and grade_record(ok, scale).letter is not None
    legacy = _with_data()  # bundled, from before the field: gradable as before
    assert data_reason(legacy) is None
    bad = _with_data(reference_data=False, data_pinned_by="none", data_check="no checksum")
    reason = data_reason(bad)
    assert reason is not None and "non-reference data (no checksum)" in reason
    g = grade_record(bad, scale)
    assert g.letter is None and g.reason == reason and not g.certifiable
    old_user = _with_data(data_source="user:/x")  # a user-data record made before the check
    assert "non-reference" in (data_reason(old_user) or "")
    hooked = _with_data(reference_data=True, data_pinned_by="test-hook")
    g = grade_record(hooked, scale)
    assert g.letter is not None and not g.certifiable
    assert f"[reference-data] {TEST_HOOK_BLOCKER}" in g.certification_blockers
