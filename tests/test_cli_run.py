"""``ecoscore run`` end to end, as a user runs it, on small models and short runs."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ecoscore.cli import app
from ecoscore.files import file_sha256
from ecoscore.record import load_record
from tests.fake_sysfs import ClockedCounters, RaplZone, make_powercap
from tests.onnx_models import linear_classifier

runner = CliRunner()


def run_cli(*args):
    return runner.invoke(app, ["run", *args])


def only_record(out):
    files = sorted((out / "runs").glob("*.json"))
    assert len(files) == 1, files
    return load_record(files[0])


def test_user_onnx_model_without_sensor_is_estimated(tmp_path, no_sensors):
    model = linear_classifier(tmp_path / "my.onnx")
    out = tmp_path / "out"
    res = run_cli(
        "--workload",
        "vision-digits",
        "--model",
        str(model),
        "--quick",
        "--repeats",
        "2",
        "--out",
        str(out),
    )
    assert res.exit_code == 0, res.output
    rec = only_record(out)
    assert rec.model.sha256 == file_sha256(model)
    assert rec.model.role == "user" and rec.model.name == "my"
    assert rec.meter.measurement == "ESTIMATED"
    assert "CodeCarbon" in rec.meter.source
    assert rec.meter.fallback_reason  # auto found no sensor and said so
    assert rec.run.quick is True
    assert [s.name for s in rec.scenarios] == ["single_stream", "offline"]
    for s in rec.scenarios:
        assert len(s.windows) == 2
        assert all(w.energy_j > 0 and w.duration_s > 0 for w in s.windows)
    assert "ESTIMATED" in res.output
    assert rec.record_id in res.output


def test_rapl_meter_measures_fake_10_watt_package(tmp_path, monkeypatch):
    root = tmp_path / "sysroot"
    paths = make_powercap(
        root, [RaplZone("intel-rapl:0", "package-0", max_energy_range_uj=600_000_000)]
    )
    (root / "proc").mkdir()
    (root / "proc" / "stat").symlink_to("/proc/stat")
    monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(root))
    model = linear_classifier(tmp_path / "m.onnx")
    out = tmp_path / "out"
    # a 600 J range (wrap-safe for 0.6 s at 1 kW) starting 25 J below the top: at 10 W it
    # wraps 2.5 s into the run. The
    # counter advances with the meters' clock: the 10 W holds however busy this machine is.
    writer = ClockedCounters().add(paths["intel-rapl:0"], 10.0, 600_000_000, start_uj=575_000_000)
    writer.install(monkeypatch)
    res = run_cli(
        "--workload",
        "vision-digits",
        "--model",
        str(model),
        "--quick",
        "--repeats",
        "3",
        "--meter",
        "rapl",
        "--out",
        str(out),
    )
    assert res.exit_code == 0, res.output
    assert writer.wraps >= 1
    rec = only_record(out)
    assert rec.meter.measurement == "MEASURED"
    assert rec.meter.boundary == "cpu-package"
    for s in rec.scenarios:
        for w in s.windows:
            assert w.valid
            assert w.energy_j / w.duration_s == pytest.approx(10.0, rel=1e-4)
    assert rec.idle.power_w == pytest.approx(10.0, rel=1e-4)


def test_bad_model_is_one_line_error_with_exit_code(tmp_path, no_sensors):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    res = run_cli(
        "--workload", "vision-digits", "--model", str(bad), "--quick", "--out", str(tmp_path)
    )
    assert res.exit_code == 3
    assert "bad.onnx" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "runs").exists()


def test_model_that_does_not_fit_the_workload(tmp_path, no_sensors):
    wrong_shape = linear_classifier(tmp_path / "wrong.onnx", in_shape=(1, 16, 16))
    res = run_cli(
        "--workload",
        "vision-digits",
        "--model",
        str(wrong_shape),
        "--quick",
        "--out",
        str(tmp_path),
    )
    assert res.exit_code == 3
    assert "does not fit" in res.output
    wrong_classes = linear_classifier(tmp_path / "c.onnx", num_classes=7)
    res = run_cli(
        "--workload",
        "vision-digits",
        "--model",
        str(wrong_classes),
        "--quick",
        "--out",
        str(tmp_path),
    )
    assert res.exit_code == 3
    assert "(batch, 10)" in res.output


def test_nan_outputs_are_rejected(tmp_path, no_sensors):
    model = linear_classifier(tmp_path / "nan.onnx", nan_output=True)
    res = run_cli(
        "--workload", "vision-digits", "--model", str(model), "--quick", "--out", str(tmp_path)
    )
    assert res.exit_code == 3
    assert "NaN" in res.output
    assert not (tmp_path / "runs").exists()


def test_unknown_workload_and_engine(tmp_path):
    res = run_cli("--workload", "nope", "--out", str(tmp_path))
    assert res.exit_code == 3 and "unknown workload" in res.output
    res = run_cli(
        "--workload", "vision-digits", "--engine", "nope", "--quick", "--out", str(tmp_path)
    )
    assert res.exit_code == 3 and "unknown engine" in res.output


def test_workloads_command_lists_gates():
    res = runner.invoke(app, ["workloads"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for name in ("vision-digits", "nlp-intent", "anomaly-machine"):
        assert name in res.output


def test_record_is_plain_json_with_units_in_names(tmp_path, no_sensors):
    model = linear_classifier(tmp_path / "my.onnx", weights=np.zeros((64, 10)))
    out = tmp_path / "out"
    assert (
        run_cli(
            "--workload",
            "vision-digits",
            "--model",
            str(model),
            "--quick",
            "--repeats",
            "1",
            "--out",
            str(out),
        ).exit_code
        == 0
    )
    doc = json.loads(next((out / "runs").glob("*.json")).read_text())
    w = doc["scenarios"][0]["windows"][0]
    assert {"energy_j", "net_energy_j", "duration_s"} <= set(w)
    assert doc["scenarios"][0]["latency"]["p90_ms"] > 0
