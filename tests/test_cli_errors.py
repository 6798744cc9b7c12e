"""One table of exit codes: the same fault gives the same code and one line on standard
error, whichever command meets it (docs/errors.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecoscore.cli import app
from ecoscore.record import save_record
from tests.record_factory import make_record


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return save_record(make_record(), tmp_path)


@pytest.mark.parametrize(
    "argv",
    [
        ["score", "{rec}", "--scale", "2099.1"],
        ["label", "{rec}", "--out", "{tmp}/l.svg", "--scale", "2099.1"],
        ["compare", "{rec}", "--scale", "2099.1"],
    ],
)
def test_an_unknown_scale_is_a_usage_error_for_every_command(
    argv: list[str], record: Path, tmp_path: Path
) -> None:
    args = [a.format(rec=record, tmp=tmp_path) for a in argv]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("ecoscore: error: no scale '2099.1'; published scales:")
    assert res.stdout == ""


def test_debug_shows_the_traceback_instead(record: Path) -> None:
    from ecoscore.grading.scale import UnknownScale

    res = CliRunner().invoke(app, ["--debug", "score", str(record), "--scale", "2099.1"])
    assert isinstance(res.exception, UnknownScale)


def test_version() -> None:
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.startswith("ecoscore ")
