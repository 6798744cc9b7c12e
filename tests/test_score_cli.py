"""``ecoscore score`` and ``ecoscore label`` through typer, on records written to disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ecoscore.commands import label as label_cmd
from ecoscore.commands import score as score_cmd
from ecoscore.record import save_record
from tests.record_factory import K, make_record


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    score_cmd.register(app)
    label_cmd.register(app)
    return app


@pytest.fixture
def records(tmp_path: Path) -> dict[str, Path]:
    specs = {
        "measured": make_record(),
        "estimated": make_record(measurement="ESTIMATED"),
        "random": make_record(quality=0.41, model_name="digits-cnn-random"),
        "baseline": make_record(
            model_name="digits-logreg",
            role="baseline",
            energy_per_inference_j=5e-5 * K,
            quality=0.93,
        ),
        "gpu": make_record(
            device_kind="gpu",
            device_name="NVIDIA H100 80GB HBM3",
            boundary="gpu",
            energy_per_inference_j=1e-3 * K,
        ),
    }
    return {k: save_record(r, tmp_path) for k, r in specs.items()}


def _score_json(app: typer.Typer, *args: str) -> dict:
    result = CliRunner().invoke(app, ["score", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_score_json_grades_and_marks(app, records) -> None:
    doc = _score_json(
        app, str(records["measured"]), str(records["estimated"]), str(records["random"])
    )
    assert doc["scale"] == "2026.1" and doc["location"] == "FRA"
    measured, estimated, random_ = (r["grade"] for r in doc["results"])
    assert measured["mark"] == "C" and estimated["mark"] == "C*"
    assert estimated["provisional"] and not estimated["certifiable"]
    assert random_["letter"] is None
    assert random_["reason"] == "not eligible: accuracy 0.41 < gate 0.95"
    ind = doc["results"][0]["indicators"]
    assert ind["carbon"]["grid"]["iso3"] == "FRA"
    assert ind["embodied"]["entry"] == "server-cpu-x86"
    assert doc["results"][0]["rank"] == "1/2"


def test_score_with_all_indicators(app, records) -> None:
    doc = _score_json(
        app,
        str(records["gpu"]),
        "--location",
        "DEU",
        "--baseline",
        str(records["baseline"]),
        "--queries-per-day",
        "1000",
        "--water-l-per-kwh",
        "1.5",
    )
    res = doc["results"][0]
    assert res["grade"]["letter"] == "D"
    ind = res["indicators"]
    assert ind["carbon"]["grid"]["iso3"] == "DEU"
    assert ind["embodied"]["entry"] == "nvidia-h100" and ind["embodied"]["known"]
    assert ind["water"]["l_per_kwh"] == 1.5
    assert ind["baseline"]["energy_ratio"] == pytest.approx(20.0)
    assert [v["queries_per_day"] for v in ind["volume"]] == [1000, 10000, 100000]


def test_score_table_output(app, records) -> None:
    result = CliRunner().invoke(
        app,
        ["score", str(records["measured"]), str(records["estimated"]), str(records["random"])],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "scale 2026.1" in out and "C*" in out and "not eligible" in out
    assert "* provisional: energy ESTIMATED" in out
    assert "accuracy 0.41 < gate 0.95" in out


def test_scoring_never_rewrites_the_record(app, records) -> None:
    before = records["measured"].read_bytes()
    _score_json(app, str(records["measured"]))
    assert records["measured"].read_bytes() == before


def test_score_errors_have_exit_codes(app, records, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["score", str(records["measured"]), "--location", "XXX"])
    assert r.exit_code == 2 and "no country 'XXX'" in r.output
    r = runner.invoke(app, ["score", str(records["measured"]), "--scale", "2020.1"])
    assert r.exit_code == 2 and "no scale '2020.1'" in r.output
    tampered = tmp_path / "tampered.json"
    doc = json.loads(records["measured"].read_text())
    doc["quality"]["value"] = 0.999
    tampered.write_text(json.dumps(doc))
    r = runner.invoke(app, ["score", str(tampered)])
    assert r.exit_code == 5 and "integrity check failed" in r.output
    r = runner.invoke(
        app,
        [
            "score",
            str(records["measured"]),
            "--baseline",
            str(save_record(make_record(workload="nlp-intent"), tmp_path)),
        ],
    )
    assert r.exit_code == 2 and "baseline" in r.output


def test_label_command_writes_svg_and_png(app, records, tmp_path: Path) -> None:
    svg, png = tmp_path / "label.svg", tmp_path / "label.png"
    r = CliRunner().invoke(
        app,
        ["label", str(records["estimated"]), "--out", str(svg), "--out", str(png), "--dpi", "100"],
    )
    assert r.exit_code == 0, r.output
    assert "C*" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text()
    assert "C*" in text and "PROVISIONAL" in text and "2026.1 · run 2026-11-23" in text
    assert "per inference" in text and "unsigned" in text
    r = CliRunner().invoke(
        app, ["label", str(records["measured"]), "--out", str(tmp_path / "l.gif")]
    )
    assert r.exit_code == 2 and ".svg or .png" in r.output


def test_label_names_the_trusted_signer_and_score_the_achieved_ci_level(app, tmp_path) -> None:
    from ecoscore.jury.signing import generate_key_pair, load_private_key, sign_record
    from ecoscore.jury.trust import trusted_keys_toml

    key, _, b64 = generate_key_pair(tmp_path / "lab")
    path = save_record(sign_record(make_record(), load_private_key(key)), tmp_path)
    keys = tmp_path / "keys.toml"
    keys.write_text(trusted_keys_toml("Lab A", b64))
    svg = tmp_path / "l.svg"
    r = CliRunner().invoke(
        app, ["label", str(path), "--out", str(svg), "--trusted-keys", str(keys)]
    )
    assert r.exit_code == 0, r.output
    assert ">Lab A (trusted, " in svg.read_text()
    r = CliRunner().invoke(app, ["score", str(path)])
    assert r.exit_code == 0, r.output
    assert "at 93.75% confidence over 5 repeat(s)" in r.output
