"""Interference reaches every surface: a run measured while other processes used the
machine is flagged by the rule (recomputed from each window's figures), and verify, score,
label, compare and a policy all say so; above the threshold it is not certifiable."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from ecoscore.checks import RULES, check_record, interference_seen
from ecoscore.cli import app
from ecoscore.commands import compare as compare_cmd
from ecoscore.grading.grade import grade_record
from ecoscore.grading.scale import load_scale
from ecoscore.jury.compare import build_comparison, iter_entries
from ecoscore.jury.policy import EXAMPLE_POLICY, evaluate, load_policy
from ecoscore.record import save_record
from ecoscore.runners.interference import OTHER_CPU_SHARE_THRESHOLD
from tests.record_factory import make_record, with_interference

SHARES = [0.38, 0.48, 0.58, 0.69, 0.79]
runner = CliRunner()


def noisy():  # noqa: ANN201
    return with_interference(make_record(model_name="noisy"), SHARES)


def test_the_rule_says_what_the_probe_saw_and_blocks_certification() -> None:
    report = check_record(noisy())
    (finding,) = [f for f in report.findings if f.rule == "no-interference"]
    assert finding.message == (
        "single_stream: other processes used 38-79% of the CPUs in 5 of 5 window(s)"
    )
    grade = grade_record(noisy(), load_scale())
    assert grade.letter == "C" and not grade.certifiable
    assert "no-interference" in grade.failed_rules


def test_the_share_is_recomputed_whatever_the_note_says() -> None:
    silent = with_interference(make_record(), [0.05, 0.5, 0.05, 0.05, 0.05], note=False)
    assert interference_seen(silent) == [
        "single_stream: other processes used 50% of the CPUs in 1 of 5 window(s)"
    ]
    quiet = with_interference(make_record(), [0.02, 0.1, 0.05, 0.0, 0.09])
    assert interference_seen(quiet) == [] and check_record(quiet).certifiable


def test_the_documented_threshold_is_the_probes() -> None:
    rule = next(r for r in RULES if r.name == "no-interference")
    assert f"{OTHER_CPU_SHARE_THRESHOLD:.0%}".replace("%", " %") in rule.description
    trust = (Path(__file__).resolve().parents[1] / "docs" / "trust.md").read_text()
    assert "more than 10 % of the CPUs" in trust


def test_verify_score_and_compare_say_it(tmp_path: Path) -> None:
    path = save_record(noisy(), tmp_path)
    res = runner.invoke(app, ["verify", str(path)])
    assert res.exit_code == 0, res.output  # usable figures, but not certifiable
    assert "certifiable: no ([no-interference] single_stream: other processes used 38-79%" in (
        res.output
    )
    res = runner.invoke(app, ["score", str(path)])
    assert res.exit_code == 0, res.output
    assert "interference: single_stream: other processes used 38-79% of the CPUs" in res.output
    assert "certifiable: no" in res.output
    res = runner.invoke(app, ["compare", str(path), "--csv", str(tmp_path / "t.csv")])
    assert res.exit_code == 0, res.output
    assert "interference noisy" in res.output
    row = (tmp_path / "t.csv").read_text().splitlines()[1]
    assert ",no," in row and "interference" in row.split(",")[-3]


def test_a_policy_fails_it(tmp_path: Path) -> None:
    path = save_record(noisy(), tmp_path)
    policy_path = tmp_path / "policy.toml"
    policy_path.write_text(
        EXAMPLE_POLICY.replace(
            'min_grade]\nmicro = "C"\nsme = "B"', 'min_grade]\nmicro = "C"\nsme = "C"'
        )
    )
    policy = load_policy(policy_path)
    comp = build_comparison(iter_entries([path]), load_scale(), policy.trusted)
    (row,) = comp.rows
    assert "interference" in row.flags and not row.certifiable
    (verdict,) = evaluate(comp, policy)
    assert any("not certifiable (no-interference)" in r for r in verdict.reasons), verdict.reasons
    a = typer.Typer()
    a.callback()(lambda: None)
    compare_cmd.register(a)
    res = runner.invoke(a, ["compare", str(path), "--policy", str(policy_path)])
    assert res.exit_code == 7 and "no-interference" in res.output
