"""``ecoscore run``'s summary ends with each record's provisional grade and the command
that gives the full score."""

from __future__ import annotations

from pathlib import Path

from ecoscore.commands.run import print_summary
from ecoscore.record import save_record
from tests.record_factory import K, make_record, with_interference


def test_summary_ends_with_the_provisional_grade_and_the_score_command(tmp_path, capsys):
    measured = make_record(energy_per_inference_j=1e-4 * K)
    estimated = make_record(model_name="est", measurement="ESTIMATED", quick=True)
    noisy = with_interference(make_record(model_name="noisy"), [0.5] * 5)
    done = [(r, save_record(r, tmp_path)) for r in (measured, estimated, noisy)]
    print_summary(done)
    out = capsys.readouterr().out.rstrip().splitlines()
    paths = [str(p) for _, p in done]
    assert (
        out[-1]
        == f"full score, class probabilities and indicators: ecoscore score {' '.join(paths)}"
    )
    assert out[-7] == f"record: {paths[0]}"
    assert out[-6] == "  provisional grade: B B (77%) / C (23%) (scale 2026.1; not yet verified)"
    assert out[-5] == f"record: {paths[1]}"
    assert out[-4].startswith("  provisional grade: C* ")
    assert out[-4].endswith(
        "(scale 2026.1; not yet verified; energy ESTIMATED: never certifiable; not certifiable: "
        "full-run)"
    )
    assert any(
        "vision-digits interference: single_stream: other processes used 50% of the CPUs in 5 of "
        "5 window(s)" in line
        for line in out
    )
    assert out[-3] == f"record: {paths[2]}"
    assert out[-2] == (
        "  provisional grade: C C (100%) (scale 2026.1; not yet verified; not certifiable: "
        "no-interference)"
    )
    table = "\n".join(out[:-7])
    assert "grade" in table and "B" in table and "C*" in table


def test_a_record_without_grade_says_why(tmp_path, capsys):
    rec = make_record(quality=0.41)
    print_summary([(rec, Path(tmp_path / "r.json"))])
    out = capsys.readouterr().out
    assert "provisional grade: none (not eligible: accuracy 0.41 < gate 0.95)" in out
