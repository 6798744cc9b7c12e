"""An engine and a meter added as plug-ins: each is its module (here tests/fakes.py) plus one
line in its registry. They then work everywhere: ``run`` builds them from the command line,
the record stores their configs, and ``reproduce`` rebuilds the same engine and meter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecoscore.cli import app
from ecoscore.record import load_record
from ecoscore.runners.engines import registry as engines
from ecoscore.runners.meters import registry as meters
from tests.onnx_models import linear_classifier


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    # the one registry line of each plug-in
    monkeypatch.setitem(engines.ENGINES, "sleep", "tests.fakes:SleepConfig")
    monkeypatch.setitem(meters.METERS, "constant", "tests.fakes:ConstantConfig")


def test_a_plugin_engine_and_meter_run_record_and_reproduce(plugins, tmp_path: Path) -> None:
    model = linear_classifier(tmp_path / "m.onnx")  # any model file; the fake ignores it
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        ["run", "-w", "vision-digits", "--model", str(model), "--engine", "sleep",
         "--setting", "input_shape=[null, 1, 8, 8]", "--setting", "classes=10",
         "--meter", "constant:7.5", "--quick", "--repeats", "1", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    (path,) = (out / "runs").glob("*.json")
    rec = load_record(path)
    assert rec.engine.name == "sleep"
    assert rec.engine.config == {
        "engine": "sleep",
        "device": "cpu",
        "precision": "fp32",
        "threads": None,
        "output": None,
        "layout": None,
        "seconds": 0.0,
        "input_shape": [None, 1, 8, 8],
        "classes": 10,
    }
    assert rec.meter.config == {"meter": "constant", "watts": 7.5, "period_s": None}
    assert rec.meter.requested == "constant:7.5"
    for s in rec.scenarios:
        for w in s.windows:
            assert w.energy_j / w.duration_s == pytest.approx(7.5)

    again = tmp_path / "again"
    res = CliRunner().invoke(
        app, ["reproduce", str(path), "--model", str(model), "--out", str(again)]
    )
    assert res.exit_code in (0, 8), res.output
    (rep_path,) = (again / "runs").glob("*.json")
    rep = load_record(rep_path)
    assert rep.replicates == rec.record_id
    assert rep.engine.config == rec.engine.config
    assert rep.meter.config == rec.meter.config


def test_an_unknown_setting_names_the_engine_and_its_settings(plugins, tmp_path: Path) -> None:
    model = linear_classifier(tmp_path / "m.onnx")
    res = CliRunner().invoke(
        app,
        ["run", "-w", "vision-digits", "--model", str(model), "--engine", "sleep",
         "--setting", "turbo=true", "--meter", "constant", "--quick", "--out", str(tmp_path)],
    )  # fmt: skip
    assert res.exit_code == 2
    assert "engine sleep has no setting 'turbo'" in res.output
    assert "seconds, input_shape, classes" in res.output


def test_the_plugin_meter_is_listed_by_ecoscore_meters(plugins) -> None:
    res = CliRunner().invoke(app, ["meters"])
    assert res.exit_code == 0, res.output
    assert "constant" in res.output and "a constant-power test meter" in res.output


def test_a_record_config_with_an_unknown_engine_is_refused(tmp_path: Path) -> None:
    from ecoscore.runners.engines.base import EngineError

    with pytest.raises(EngineError, match="unknown engine 'warp'"):
        engines.config_from_record(json.loads('{"engine": "warp"}'))
