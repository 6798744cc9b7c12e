"""Call scales: derived from records by rule (quantiles, reference), listing every record
id, refusing ESTIMATED or quick records unless allowed and said, pinning the workload
definition, and used by score, label and compare through --scale-file."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecoscore.cli import app
from ecoscore.grading.call_scale import DerivationError, derive_scale_toml
from ecoscore.grading.grade import grade_record
from ecoscore.grading.scale import SCALE_RULES, ScaleError, load_scale, quantile
from ecoscore.record import RunRecord, save_record
from tests.record_factory import make_record

runner = CliRunner()
ENERGIES = (1e-4, 2e-4, 3e-4, 4e-4, 6e-4, 9e-4)


def cohort(measurement: str = "MEASURED", quick: bool = False) -> list[RunRecord]:
    return [
        make_record(
            energy_per_inference_j=e,
            measurement=measurement,  # type: ignore[arg-type]
            quick=quick,
            model_name=f"model-{i}",
            role="user",
        )
        for i, e in enumerate(ENERGIES)
    ]


def test_quantile_is_numpy_linear() -> None:
    import numpy as np

    values = [5.0, 1.0, 3.0, 2.0, 8.0]
    for q in (0.0, 0.1, 0.3, 0.5, 0.85, 1.0):
        assert quantile(values, q) == pytest.approx(float(np.quantile(values, q)))


def test_quantiles_rule_bounds_and_basis(tmp_path: Path) -> None:
    records = cohort()
    text, scale = derive_scale_toml(records, "quantiles", "call-2027.1", published="2026-12-01")
    ws = scale.for_workload("vision-digits")
    assert ws is not None
    assert ws.upper_bounds_j == pytest.approx(tuple(quantile(list(ENERGIES), q) for q in
                                                    (0.1, 0.3, 0.6, 0.85)))  # fmt: skip
    assert ws.reference_energy_per_inference_j == pytest.approx(3.5e-4)
    assert {b.record_id for b in ws.basis} == {r.record_id for r in records}
    assert ws.definition_sha256 == records[0].workload.definition_sha256
    assert scale.scale.basis_measurement == "MEASURED" and not scale.built_on_estimates
    # bounds 1.5, 2.5, 4 and 6.75 (x 1e-4): a bound belongs to the lower class
    assert [ws.class_of(e) for e in ENERGIES] == ["A", "B", "C", "C", "D", "E"]
    # the file written is the scale loaded: every record id appears in it
    path = tmp_path / "call-2027.toml"
    path.write_text(text)
    loaded = load_scale(path=path)
    assert loaded.version == "call-2027.1" and loaded.rule == "quantiles"
    for r in records:
        assert r.record_id in text


def test_reference_rule_is_geometric_centred_on_the_reference_runs() -> None:
    refs = cohort()[:2]
    _, scale = derive_scale_toml(refs, "reference", "call-2027.2")
    ws = scale.for_workload("vision-digits")
    assert ws is not None
    centre = math.sqrt(1e-4 * 2e-4)
    assert ws.reference_energy_per_inference_j == pytest.approx(centre)
    lo, hi = ws.upper_bounds_j[1], ws.upper_bounds_j[2]
    assert math.sqrt(lo * hi) == pytest.approx(centre)  # class C centred on it
    assert ws.class_of(centre) == "C"


def test_records_that_cannot_make_a_scale_are_refused_by_name() -> None:
    estimated = cohort("ESTIMATED")
    with pytest.raises(DerivationError, match=r"energy ESTIMATED .*--allow-estimated"):
        derive_scale_toml(estimated, "quantiles", "call-2027.1")
    with pytest.raises(DerivationError, match=r"a quick \(smoke\) run; give --allow-quick"):
        derive_scale_toml(cohort(quick=True), "quantiles", "call-2027.1")
    below = [*cohort()[:5], make_record(quality=0.5, model_name="weak")]
    with pytest.raises(DerivationError, match=r"weak on vision-digits\): not eligible"):
        derive_scale_toml(below, "quantiles", "call-2027.1")
    with pytest.raises(DerivationError, match="is given twice"):
        derive_scale_toml([*cohort(), cohort()[0]], "quantiles", "call-2027.1")
    other = make_record(updates={"workload": {"definition_sha256": "f" * 64}})
    with pytest.raises(DerivationError, match="2 different workload definitions"):
        derive_scale_toml([*cohort(), other], "quantiles", "call-2027.1")
    with pytest.raises(ScaleError, match=r"basis: 4 record\(s\); the quantiles rule needs at"):
        derive_scale_toml(cohort()[:4], "quantiles", "call-2027.1")
    replication = make_record(updates={"run": {"quick": False}}).model_copy(
        update={"record_type": "replication"}
    )
    with pytest.raises(DerivationError, match="replication"):
        derive_scale_toml([replication.with_id()], "reference", "call-2027.1")


def test_a_scale_built_on_estimates_says_so_and_blocks_certification() -> None:
    text, scale = derive_scale_toml(cohort("ESTIMATED"), "quantiles", "call-2027.1",
                                    allow_estimated=True)  # fmt: skip
    doc = tomllib.loads(text)
    assert doc["scale"]["allow_estimated"] is True
    assert doc["scale"]["basis_measurement"] == "ESTIMATED"
    assert "Built on ESTIMATED energy" in text
    assert scale.built_on_estimates and "ESTIMATED" in scale.summary
    measured = make_record(energy_per_inference_j=2.5e-4)
    grade = grade_record(measured, scale)
    assert grade.letter == "B"
    assert not grade.certifiable
    assert "scale call-2027.1 is built on ESTIMATED records" in grade.certification_blockers


def _edited(tmp_path: Path, text: str, old: str, new: str) -> Path:
    assert old in text
    path = tmp_path / "edited.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_hand_edits_that_break_the_basis_are_caught(tmp_path: Path) -> None:
    text, _ = derive_scale_toml(cohort("ESTIMATED"), "quantiles", "call-2027.1",
                                allow_estimated=True)  # fmt: skip
    # hiding that the basis is estimated
    path = _edited(
        tmp_path, text, 'basis_measurement = "ESTIMATED"', 'basis_measurement = "MEASURED"'
    )
    with pytest.raises(ScaleError, match=r"basis\[0\].*scale.basis_measurement"):
        load_scale(path=path)
    path = _edited(tmp_path, text, "allow_estimated = true", "allow_estimated = false")
    with pytest.raises(ScaleError, match=r"is ESTIMATED and scale.allow_estimated is not set"):
        load_scale(path=path)
    # moving a record's energy moves the quantiles: the written bounds no longer follow
    path = _edited(tmp_path, text, "energy_per_inference_j = 0.0001,",
                   "energy_per_inference_j = 0.00005,")  # fmt: skip
    with pytest.raises(ScaleError, match=r"upper_bounds_j.A: .* does not follow from the "
                                         r"quantiles of its 6 records"):  # fmt: skip
        load_scale(path=path)
    path = _edited(tmp_path, text, 'rule = "quantiles"', 'rule = "deciles"')
    with pytest.raises(ScaleError, match=r"scale.rule: unknown rule 'deciles'; rules: "):
        load_scale(path=path)


def test_rules_are_data_the_registry_names_them() -> None:
    assert set(SCALE_RULES) >= {"geometric-centred", "reference", "quantiles"}
    assert [n for n, r in SCALE_RULES.items() if r.from_records] == ["reference", "quantiles"]
    assert load_scale("2026.1").rule == "geometric-centred"


def test_a_call_scale_grades_only_its_workload_definition() -> None:
    _, scale = derive_scale_toml(cohort(), "quantiles", "call-2027.1")
    other = make_record(updates={"workload": {"definition_sha256": "f" * 64}})
    grade = grade_record(other, scale)
    assert grade.letter is None
    # a definition that is neither the installed one nor the one the call pins: no grade
    assert grade.reason is not None and "definition sha256 ffffffffffff" in grade.reason


def test_cli_derive_then_score_label_compare_with_the_scale_file(tmp_path: Path) -> None:
    runs = tmp_path / "cohort"
    for r in cohort():
        save_record(r, runs)
    out = tmp_path / "call-2027.toml"
    res = runner.invoke(app, ["scale", "derive", str(runs / "runs"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "scale call-2027.1 (quantiles of 6 record(s), MEASURED)" in (
        res.output
    )
    submission = save_record(
        make_record(energy_per_inference_j=2.5e-4, model_name="applicant"), tmp_path / "sub"
    )
    res = runner.invoke(app, ["score", str(submission), "--scale-file", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["scale"] == "call-2027.1" and doc["results"][0]["grade"]["letter"] == "B"
    assert doc["scale_built_on_estimates"] is False
    res = runner.invoke(app, ["score", str(submission), "--scale-file", str(out), "--scale",
                              "2026.1"])  # fmt: skip
    assert res.exit_code == 2 and "not both" in res.output
    label = tmp_path / "label.svg"
    res = runner.invoke(app, ["label", str(submission), "--scale-file", str(out), "--out",
                              str(label)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert ">call-2027.1 · run " in label.read_text()
    csv = tmp_path / "table.csv"
    res = runner.invoke(app, ["compare", str(submission), str(runs / "runs"), "--scale-file",
                              str(out), "--csv", str(csv), "--no-labels"])  # fmt: skip
    assert res.exit_code == 0, res.output
    table = csv.read_text()
    assert "applicant" in table and "2/7" in table  # the relative rank beside the grade


def test_cli_derive_refuses_estimates_without_the_flag(tmp_path: Path) -> None:
    runs = tmp_path / "cohort"
    for r in cohort("ESTIMATED"):
        save_record(r, runs)
    out = tmp_path / "call-2027.toml"
    res = runner.invoke(app, ["scale", "derive", str(runs / "runs"), "--out", str(out)])
    assert res.exit_code == 3 and "--allow-estimated" in res.output and not out.exists()
    res = runner.invoke(
        app, ["scale", "derive", str(runs / "runs"), "--out", str(out), "--allow-estimated"]
    )
    assert res.exit_code == 0, res.output
    assert "cannot be certified" in res.output
    res = runner.invoke(app, ["scale", "derive", str(runs / "runs"), "--out",
                              str(tmp_path / "scale.toml")])  # fmt: skip
    assert res.exit_code == 2 and "--version" in res.output
