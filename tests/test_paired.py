"""Paired runs (``ecoscore run --paired``): the model factor ``E_model / E_reference`` from
interleaved pairs of windows, its mapping to a model grade, the trust rules of a paired
record, the refusals, and a real paired run on this CPU (the Done-when of issue 15, item 2:
the digits logistic baseline against the CNN gives a factor below 1)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import NormalDist

import pytest
from typer.testing import CliRunner

from ecoscore.checks import check_record
from ecoscore.cli import app
from ecoscore.grading.grade import grade_record
from ecoscore.grading.model_grade import MappingError, load_mapping, model_grade
from ecoscore.grading.scale import load_scale
from ecoscore.grading.uncertainty import BETWEEN_RUN_LOG_SIGMA
from ecoscore.record import RunRecord, Window, load_record, save_record
from ecoscore.runners.paired import pair_factor, pair_ratios
from ecoscore.runners.stats import median_stat
from tests.paired_records import make_paired
from tests.record_factory import make_record

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def forged(record: RunRecord, edit) -> RunRecord:  # noqa: ANN001
    """``record`` with its JSON edited by ``edit(doc)`` and its record_id recomputed (as
    an applicant could): only the rules can catch it."""
    doc = record.model_dump(mode="json")
    edit(doc)
    doc.pop("record_id", None)
    return RunRecord.model_validate(doc).with_id()


def _window(energy_j: float, inferences: int = 100, valid: bool = True) -> Window:
    return Window(
        energy_j=energy_j,
        net_energy_j=energy_j / 2,
        duration_s=1.0,
        queries=inferences,
        inferences=inferences,
        sensor_updates=None,
        valid=valid,
    )


# -- the factor -----------------------------------------------------------------------------


def test_pair_ratios_compare_energy_per_inference_pair_by_pair() -> None:
    model = [_window(1.0, 100), _window(2.0, 200), _window(9.0, 100, valid=False), _window(1.0)]
    ref = [_window(4.0, 100), _window(4.0, 100), _window(4.0, 100), _window(0.0)]
    # pair 1: 0.01 / 0.04; pair 2: 0.01 / 0.04; pair 3: model window invalid; pair 4: no energy
    assert pair_ratios(model, ref) == [0.25, 0.25]


def test_the_factor_is_the_median_of_the_ratios_with_its_order_statistic_interval() -> None:
    ratios = [0.2, 0.25, 0.18, 0.22, 0.21]
    model = [_window(r) for r in ratios]
    ref = [_window(1.0) for _ in ratios]
    stat = pair_factor(model, ref)
    assert stat == median_stat(ratios)
    # five pairs: [min, max] at 1 - 2 / 32 = 93.75 %
    assert (stat.median, stat.ci_low, stat.ci_high, stat.ci_level, stat.n) == (
        0.21,
        0.18,
        0.25,
        0.9375,
        5,
    )
    assert pair_factor([_window(1.0, valid=False)], [_window(1.0)]) is None


# -- the mapping ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "letter"),
    [
        (0.05, "A"),
        (0.178, "A"),  # a bound belongs to the better class
        (0.18, "B"),
        (0.562, "B"),
        (0.6, "C"),
        (1.0, "C"),
        (1.78, "C"),
        (1.8, "D"),
        (5.62, "D"),
        (5.7, "E"),
        (40.0, "E"),
    ],
)
def test_the_mapping_has_classes_of_width_sqrt_10_centred_on_one(factor, letter) -> None:
    assert load_mapping().class_of(factor) == letter


def test_the_mapping_file_follows_its_rule() -> None:
    m = load_mapping("2026.1")
    assert m.version == "2026.1"
    for k, bound in enumerate(m.upper_bounds):  # 10 ** ((k - 2) / 2 + 1 / 4)
        assert bound == pytest.approx(10 ** ((k - 2) / 2 + 0.25), rel=0.01)
    assert math.sqrt(m.upper_bounds[2] * m.upper_bounds[1]) == pytest.approx(1.0, rel=0.01)


def test_a_mapping_whose_bounds_break_the_rule_is_refused(tmp_path) -> None:
    text = (REPO / "ecoscore" / "scales" / "model-grade-2026.1.toml").read_text()
    bad = tmp_path / "model-grade-2026.1.toml"
    bad.write_text(text.replace("B = 0.562", "B = 0.7"))
    with pytest.raises(MappingError, match=r"model-grade-2026\.1\.toml.*upper_bounds\.B"):
        load_mapping(path=bad)


def test_model_grade_from_injected_factors() -> None:
    rec = make_paired([0.2, 0.21, 0.19, 0.2, 0.22])
    mg = model_grade(rec)
    assert mg is not None
    assert (mg.letter, mg.mark, mg.provisional, mg.reference) == ("B", "B", False, "digits-cnn")
    assert mg.factor == pytest.approx(0.2) and mg.factor_ci == pytest.approx((0.19, 0.22))
    assert (mg.ci_level, mg.pairs) == (0.9375, 5)
    # sigma: the interval's, with the between-run term in quadrature
    z = 1.8627318674216515  # the normal quantile of (1 + 0.9375) / 2
    within = (math.log(0.22) - math.log(0.19)) / (2 * z)
    assert mg.sigma_log == pytest.approx(math.hypot(within, BETWEEN_RUN_LOG_SIGMA))
    assert sum(mg.probabilities.values()) == pytest.approx(1.0)
    assert max(mg.probabilities, key=mg.probabilities.get) == "B"
    # ln(factor) ~ Normal(ln 0.2, sigma) over the classes' bounds (0.178, 0.562]
    dist = NormalDist(math.log(0.2), mg.sigma_log)
    assert mg.probabilities["B"] == pytest.approx(
        dist.cdf(math.log(0.562)) - dist.cdf(math.log(0.178))
    )
    assert mg.probabilities["A"] == pytest.approx(dist.cdf(math.log(0.178)))
    # a factor near a bound splits between the two classes
    near = model_grade(make_paired([0.55, 0.56, 0.57, 0.56, 0.56]))
    assert near is not None and near.letter == "B"
    assert 0.35 < near.probabilities["C"] < 0.65


def test_an_estimated_factor_gives_a_provisional_model_grade() -> None:
    g = grade_record(make_paired(measurement="ESTIMATED"), load_scale())
    assert g.model_grade is not None and g.model_grade.mark == "B*"
    assert g.model_grade.measurement == "ESTIMATED" and g.model_grade.provisional
    assert g.to_dict()["model_grade"]["mark"] == "B*"


def test_below_the_gate_there_is_no_model_grade() -> None:
    g = grade_record(make_paired(quality=0.41), load_scale())
    assert g.letter is None and g.model_grade is not None
    assert g.model_grade.letter is None and g.model_grade.mark == "-"
    assert "gate" in (g.model_grade.reason or "")
    assert g.model_grade.factor == pytest.approx(0.2)  # the figure stays, for information


def test_an_unpaired_record_has_no_model_grade_and_keeps_its_record_id() -> None:
    rec = make_record()
    assert grade_record(rec, load_scale()).model_grade is None
    assert "paired" not in rec.model_dump(mode="json")
    for path in sorted((REPO / "results" / "reference" / "runs").glob("*.json"))[:3]:
        published = load_record(path)
        assert published.paired is None
        assert published.with_id().record_id == published.record_id == path.stem


# -- the trust rules ------------------------------------------------------------------------


def test_a_consistent_paired_record_passes_every_rule() -> None:
    report = check_record(make_paired())
    assert report.findings == ()
    assert {
        "paired-factor-matches-windows",
        "paired-windows-interleaved",
        "paired-reference-is-the-workload-reference",
    } <= set(report.rules_run)


def test_an_edited_factor_fails_verify(tmp_path) -> None:
    def halve(doc: dict) -> None:
        doc["paired"]["scenarios"][0]["factor"]["median"] /= 2

    rec = forged(make_paired(), halve)
    report = check_record(rec)
    assert report.failed_rules() == ["paired-factor-matches-windows"]
    assert "paired single_stream factor.median" in report.invalid[0].message
    assert grade_record(rec, load_scale()).model_grade.letter is None
    path = save_record(rec, tmp_path)
    res = runner.invoke(app, ["verify", str(path)])
    assert res.exit_code == 7, res.output
    assert "paired-factor-matches-windows" in res.output
    # the file edited in place: its record_id no longer matches (integrity)
    doc = json.loads(path.read_text())
    doc["paired"]["scenarios"][0]["factor"]["median"] = 0.01
    path.write_text(json.dumps(doc))
    assert runner.invoke(app, ["verify", str(path)]).exit_code == 5


def test_edited_reference_windows_fail_the_factor_rule() -> None:
    def cheaper_reference(doc: dict) -> None:
        for w in doc["paired"]["scenarios"][0]["reference"]["windows"]:
            w["energy_j"] *= 3
            w["net_energy_j"] = w["energy_j"] - (w["ready_idle_w"] or 0) * w["duration_s"]

    report = check_record(forged(make_paired(), cheaper_reference))
    assert "paired-factor-matches-windows" in report.failed_rules()
    assert any("reference energy_per_inference_j" in f.message for f in report.invalid)


def test_windows_out_of_order_fail_the_interleaving_rule() -> None:
    def reference_first(doc: dict) -> None:
        model = doc["scenarios"][0]["windows"]
        ref = doc["paired"]["scenarios"][0]["reference"]["windows"]
        for m, r in zip(model, ref, strict=True):
            m["details"], r["details"] = r["details"], m["details"]

    report = check_record(forged(make_paired(), reference_first))
    assert report.failed_rules() == ["paired-windows-interleaved"]

    def untimed(doc: dict) -> None:
        doc["paired"]["scenarios"][0]["reference"]["windows"][2]["details"] = {}

    report = check_record(forged(make_paired(), untimed))
    assert report.failed_rules() == ["paired-windows-interleaved"]
    assert "no start and end time" in report.invalid[0].message


def test_a_reference_that_is_not_the_installed_one_fails() -> None:
    def other_reference(doc: dict) -> None:
        ref = doc["paired"]["reference"]
        ref["sha256"] = ref["files"][0]["sha256"] = "f" * 64

    report = check_record(forged(make_paired(), other_reference))
    assert report.failed_rules() == ["paired-reference-is-the-workload-reference"]
    assert "is not the installed vision-digits reference digits-cnn" in report.invalid[0].message

    def model_is_reference(doc: dict) -> None:
        doc["model"] = {**doc["paired"]["reference"], "role": "user"}

    report = check_record(forged(make_paired(), model_is_reference))
    assert "paired-reference-is-the-workload-reference" in report.failed_rules()
    assert any("the model is the reference itself" in f.message for f in report.invalid)


def test_a_factor_claimed_measured_from_an_estimate_fails() -> None:
    def measured(doc: dict) -> None:
        doc["paired"]["measurement"] = "MEASURED"

    report = check_record(forged(make_paired(measurement="ESTIMATED"), measured))
    assert "paired-factor-matches-windows" in report.failed_rules()


# -- refusals -------------------------------------------------------------------------------


def test_paired_is_refused_when_the_model_is_the_reference(tmp_path, no_sensors) -> None:
    out = tmp_path / "out"
    res = runner.invoke(
        app, ["run", "-w", "vision-digits", "--paired", "--quick", "--out", str(out)]
    )
    assert res.exit_code == 2, res.output
    assert "this model is that reference (digits-cnn" in res.output
    assert "Traceback" not in res.output and not (out / "runs").exists()


def test_paired_is_refused_for_a_workload_without_a_reference(tmp_path, no_sensors) -> None:
    from tests.onnx_models import linear_classifier
    from tests.workload_files import CSV_FILE, write_readings_csv

    data = write_readings_csv(tmp_path / "data" / "readings.csv")
    file = tmp_path / "data" / "workload.toml"
    file.write_text(CSV_FILE)
    model = linear_classifier(tmp_path / "m.onnx", in_shape=(3,), num_classes=3)
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        ["run", "--workload-file", str(file), "--data", str(data.parent), "--model", str(model),
         "--paired", "--quick", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "workload.toml: --paired measures the workload's reference model" in res.output
    assert "names no reference model" in res.output and not (out / "runs").exists()


# -- the Done-when: a real paired run on this CPU -----------------------------------------------


def test_a_paired_run_of_the_digits_baseline_against_the_cnn_gives_a_factor_below_1(
    tmp_path, no_sensors
) -> None:
    out = tmp_path / "out"
    args = ["run", "-w", "vision-digits", "--baseline", "--paired", "--quick"]
    res = runner.invoke(app, [*args, "--repeats", "3", "--threads", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    (path,) = sorted((out / "runs").glob("*.json"))
    rec = load_record(path)
    assert rec.model.name == "digits-logreg" and rec.paired is not None
    paired = rec.paired
    assert paired.reference.name == "digits-cnn" and paired.reference.role == "reference"
    assert paired.measurement == rec.meter.measurement == "ESTIMATED"  # no sensor here
    assert paired.reference_quality.passed and paired.reference_quality.value > 0.95
    for name in ("single_stream", "offline"):
        model, pair = rec.scenario(name), paired.scenario(name)
        assert model is not None and pair is not None
        ref = pair.reference
        assert len(model.windows) == len(ref.windows) == 3
        # interleaved: model 1, reference 1, model 2, reference 2, model 3, reference 3
        spans = []
        for m, r in zip(model.windows, ref.windows, strict=True):
            spans += [m.details["t0_unix"], m.details["t1_unix"]]
            spans += [r.details["t0_unix"], r.details["t1_unix"]]
        assert spans == sorted(spans)
        # the ready idle covers the whole interleaved block: every window between its ends
        levels = sorted([rec.idle.power_w, rec.idle_levels.ready_after.power_w])
        for w in (*model.windows, *ref.windows):
            assert levels[0] - 1e-9 <= w.ready_idle_w <= levels[1] + 1e-9
    factor = paired.scenario("single_stream").factor
    assert factor is not None and factor.n == 3
    assert factor.median < 1.0 and factor.ci_high < 1.0  # the logistic model is far cheaper
    assert check_record(rec).invalid == ()
    grade = grade_record(rec, load_scale())
    assert grade.model_grade is not None and grade.model_grade.provisional
    assert grade.model_grade.mark.endswith("*") and grade.model_grade.letter is not None
    assert "model grade:" in res.output
    # score and verify read it back
    res = runner.invoke(app, ["score", str(path)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "model grade:" in res.output and "model factor E_model / E_reference" in res.output
    assert runner.invoke(app, ["verify", str(path)]).exit_code == 0


def test_a_paired_record_with_a_non_finite_number_is_not_written(tmp_path) -> None:
    from ecoscore.record import NonFiniteRecordError

    rec = make_paired()
    single = rec.paired.scenarios[0]
    bad = single.model_copy(
        update={"factor": single.factor.model_copy(update={"ci_high": math.inf})}
    )
    rec = rec.model_copy(update={"paired": rec.paired.model_copy(update={"scenarios": [bad]})})
    with pytest.raises(NonFiniteRecordError, match=r"paired\.scenarios\.0\.factor\.ci_high"):
        save_record(rec, tmp_path)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
