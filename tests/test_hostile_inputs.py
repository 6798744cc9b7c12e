"""Hostile and odd inputs, one hand-written test per class (issue 13); the property tests
(tests/test_hostile_properties.py) cover the same classes with generated input."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ecoscore.cli import app
from ecoscore.files import MAX_JSON_DEPTH, loads_strict, read_untrusted
from ecoscore.record import NonFiniteRecordError, RecordError, load_record, save_record
from ecoscore.reports import safe_text
from tests.hostile import check_csv, check_html, check_latex, check_markdown, terminal_safe
from tests.onnx_models import linear_classifier, looping_classifier
from tests.record_factory import make_record
from tests.run_helpers import quick_request, start_run

runner = CliRunner()


def invoke(*args: object):  # noqa: ANN201
    return runner.invoke(app, [str(a) for a in args])


# -- spreadsheet formulas in CSV ----------------------------------------------------------


@pytest.mark.parametrize("name", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_a_formula_in_any_text_field_is_text_in_the_csv(tmp_path, name) -> None:
    rec = make_record(model_name=name, updates={"device": {"name": "=HYPERLINK(1)"}})
    path = save_record(rec, tmp_path)
    res = invoke("compare", path, "--csv", tmp_path / "t.csv")
    assert res.exit_code == 0, res.stderr
    rows = check_csv((tmp_path / "t.csv").read_text())
    header, row = rows
    shown = safe_text.visible(name)  # a tab or CR is shown as \\t or \\r: no formula
    assert row[header.index("model")] == ("'" + shown if shown[0] in "=+-@" else shown)
    assert row[header.index("device")] == "'=HYPERLINK(1)"
    assert safe_text.csv_cell("-0.5") == "-0.5" and safe_text.csv_cell("-") == "-"


# -- characters that lie ------------------------------------------------------------------

FORGED = "\x1b[2K\rOK    forged.json: all good \u202eKO"


def test_a_fail_line_of_verify_cannot_be_made_to_read_ok(tmp_path) -> None:
    rec = make_record(model_name=FORGED, quality=0.5)  # below the gate: FAIL
    path = save_record(rec, tmp_path)
    res = invoke("verify", path)
    assert res.exit_code == 7
    terminal_safe(res.stdout)
    line = res.stdout.splitlines()[0]
    assert line.startswith("FAIL") and "\\x1b[2K\\rOK    forged.json" in line
    assert "\\u202eKO" in line


def test_a_policy_line_cannot_be_forged_either(tmp_path) -> None:
    rec = make_record(model_name="x\nPASS  everything.zip: 9 record(s)", quick=True)
    path = save_record(rec, tmp_path)
    policy = tmp_path / "p.toml"
    policy.write_text('[policy]\nrequired_workloads = ["nlp-intent"]\n')
    res = invoke("compare", path, "--policy", policy)
    assert res.exit_code == 7
    terminal_safe(res.stdout)
    fails = [ln for ln in res.stdout.splitlines() if ln.startswith(("PASS", "FAIL"))]
    assert len(fails) == 1 and fails[0].startswith("FAIL")
    assert "x\\nPASS  everything.zip" in fails[0]


def test_markdown_html_and_latex_show_names_as_text(tmp_path) -> None:
    names = ["a\rb | c", "[x](javascript:alert(1))", "<img src=x onerror=alert(1)>", "\u202egnp."]
    paths = [
        save_record(make_record(model_name=n), tmp_path / f"r{i}") for i, n in enumerate(names)
    ]
    out = tmp_path / "out"
    res = invoke(
        "compare", *paths, "--md", out / "t.md", "--html", out / "r.html", "--latex", out / "t.tex"
    )
    assert res.exit_code == 0, res.stderr
    from ecoscore.jury.compare import COLUMNS
    from ecoscore.reports.report_html import _SCRIPT

    cells = check_markdown((out / "t.md").read_text(), len(COLUMNS), len(names))
    shown = {r[COLUMNS.index("model")] for r in cells[1:]}
    assert shown == {"a\\rb | c", "[x](javascript:alert(1))", "<img src=x onerror=alert(1)>",
                     "\\u202egnp."}  # fmt: skip
    html = (out / "r.html").read_text()
    check_html(html, _SCRIPT)
    assert "\u202e" not in html and "\\u202egnp." in html
    check_latex((out / "t.tex").read_text(), len(COLUMNS))


def test_an_error_line_shows_control_characters_as_escapes(tmp_path) -> None:
    bad = tmp_path / "\x1b[31mred.json"
    bad.write_text("{")
    res = invoke("score", bad)
    assert res.exit_code == 3
    terminal_safe(res.stderr)
    assert "\\x1b[31mred.json" in res.stderr


# -- valid JSON that kills the reader -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "nested more than"),
        ("[" * 100_000 + "]" * 100_000, "nested"),
        ('{"n": ' + "9" * 5000 + "}", "an integer of 5000 digits"),
        ('{"s": "a\\udc00"}', "lone surrogate"),
        ('{"x": NaN}', "NaN is not a JSON number"),
        ('{"x": [Infinity]}', "Infinity is not a JSON number"),
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
    ],
    ids=["deep", "very-deep", "huge-int", "surrogate", "nan", "infinity", "duplicate"],
)
def test_json_that_kills_is_one_error_naming_the_file(tmp_path, text, message) -> None:
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(RecordError, match=message) as exc:
        load_record(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)
    assert loads_strict(b'{"ok": [1, 2.5, "x"]}', "s", RecordError) == {"ok": [1, 2.5, "x"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [("a = " + "9" * 5000, "Exceeds the limit"), ("a = " + "[" * 5000 + "]" * 5000, "too deep")],
)
def test_toml_that_kills_is_one_error_naming_the_file(tmp_path, text, message) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    res = invoke("compare", save_record(make_record(), tmp_path), "--policy", path)
    assert res.exit_code == 3 and str(path) in res.stderr and message in res.stderr, res.stderr


def test_verify_and_compare_go_on_past_a_killer_file_and_bundle_member(tmp_path) -> None:
    from ecoscore.jury.bundle import BUNDLE_FORMAT, BUNDLE_VERSION, MANIFEST, sha256_hex

    good = save_record(make_record(), tmp_path / "good")
    killer = b'{"schema_version": "2.0", "x": ' + b"9" * 10_000 + b"}"
    (tmp_path / "killer.json").write_bytes(killer)
    listed = {"records/killer.json": {"sha256": sha256_hex(killer), "size_bytes": len(killer)}}
    manifest = {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION, "members": listed}
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as z:
        z.writestr(MANIFEST, json.dumps(manifest))
        z.writestr("records/killer.json", killer)
    res = invoke("verify", tmp_path)
    assert res.exit_code == 3, res.stdout
    lines = res.stdout.splitlines()
    assert any(ln.startswith("OK") and str(good) in ln for ln in lines)
    assert sum(ln.startswith("FAIL") and "an integer of 10000 digits" in ln for ln in lines) == 2
    res = invoke("compare", tmp_path)
    assert res.exit_code == 0 and res.stderr.count("skipped:") == 2


def test_a_record_is_written_as_strict_json_or_not_at_all(tmp_path) -> None:
    rec = make_record()
    idle = rec.idle.model_copy(update={"power_w": float("nan")})
    with pytest.raises(NonFiniteRecordError, match="idle.power_w"):
        save_record(rec.model_copy(update={"idle": idle}), tmp_path)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


# -- numbers that break plots -------------------------------------------------------------


def _with_infinity(rec, section: str, field: str, path: Path) -> Path:
    """``rec`` written with ``section.field`` infinite (``1e999``), its record_id matching."""
    from ecoscore.record import content_hash

    doc = rec.model_dump(mode="json")
    doc[section][field] = float("inf")
    doc["record_id"] = content_hash(doc)
    doc[section][field] = "@INF@"
    path.write_text(json.dumps(doc).replace('"@INF@"', "1e999"))
    return path


def test_non_finite_and_extreme_numbers_and_math_text_do_not_break_plots(tmp_path) -> None:
    huge = make_record(model_name="$\\frac{1}{0}$", energy_per_inference_j=1e100)
    paths = [
        _with_infinity(huge, "quality", "value", tmp_path / "inf.json"),
        save_record(make_record(model_name="tiny", energy_per_inference_j=1e-300), tmp_path),
        save_record(
            make_record(model_name="ok", updates={"quality": {"metric": "$\\sqrt{$"}}), tmp_path
        ),  # fmt: skip
    ]
    assert load_record(paths[0]).quality.value == float("inf")
    out = tmp_path / "out"
    res = invoke("compare", *paths, "--html", out / "r.html", "--plot", out / "p.png")
    assert res.exit_code == 0, res.stderr
    assert (out / "p.png").read_bytes()[:4] == b"\x89PNG", res.stderr
    assert "<img" in (out / "r.html").read_text()


# -- special files and sizes --------------------------------------------------------------


def test_a_fifo_and_a_symlink_to_a_device_are_refused_before_reading(tmp_path) -> None:
    good = save_record(make_record(), tmp_path)
    fifo = tmp_path / "runs" / "fifo.json"
    os.mkfifo(fifo)
    device = tmp_path / "runs" / "zero.json"
    device.symlink_to("/dev/zero")
    res = invoke("verify", tmp_path)  # would block on the FIFO, fill memory from /dev/zero
    assert res.exit_code == 3
    out = res.stdout
    assert "fifo.json: is a FIFO" in out and "zero.json: is a character device" in out
    assert f"OK    {good}" in out
    for what, path in (("policy", fifo), ("trusted keys", device)):
        flag = "--policy" if what == "policy" else "--trusted-keys"
        res = invoke("compare", good, flag, path)
        assert res.exit_code == 3 and "not a regular file" in res.stderr, res.stderr


def test_a_bundle_record_member_over_the_record_limit_is_refused_before_reading(
    tmp_path, monkeypatch
) -> None:
    from ecoscore.jury import bundle

    monkeypatch.setattr(bundle, "MAX_RECORD_BYTES", 1000)
    read = bundle._read_member

    def spy(z, info, where):  # noqa: ANN001, ANN202
        assert not info.filename.startswith("records/"), "read before its size was checked"
        return read(z, info, where)

    monkeypatch.setattr(bundle, "_read_member", spy)
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as z:
        z.writestr("manifest.json", "{}")
        z.writestr("records/big.json", os.urandom(2000))
    with pytest.raises(bundle.BundleError, match="larger than a run record can be"):
        bundle.read_bundle(tmp_path / "b.zip")


def test_a_2_gib_model_is_refused_by_its_size_and_a_large_one_by_memory(
    tmp_path, monkeypatch
) -> None:
    import onnx

    from ecoscore.runners import model_files
    from ecoscore.runners.engines.base import EngineError

    def never(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the model was read")

    monkeypatch.setattr(onnx, "load_model_from_string", never)
    huge = tmp_path / "huge.onnx"
    with open(huge, "wb") as f:
        f.truncate(model_files.MAX_MODEL_BYTES + 1)  # sparse: no disk used
    with pytest.raises(EngineError, match="larger than the 2147483648 allowed"):
        model_files.inspect_model(huge)
    model = linear_classifier(tmp_path / "m.onnx")
    monkeypatch.setattr(model_files, "memory_available_bytes", lambda: 1000)
    with pytest.raises(EngineError, match="this machine has 0 MiB available; refused before"):
        model_files.inspect_model(model)


def test_power_log_and_data_files_go_through_the_same_checks(tmp_path) -> None:
    from ecoscore.benchmarks.errors import DataFormatError
    from ecoscore.runners.meters.base import MeterError
    from ecoscore.runners.meters.csv_log import read_power_log

    fifo = tmp_path / "log.csv"
    os.mkfifo(fifo)
    with pytest.raises(MeterError, match="is a FIFO"):
        read_power_log(fifo)
    with pytest.raises(DataFormatError, match="larger than a WAV file may be"):
        (tmp_path / "a.wav").write_bytes(b"0" * 11)
        read_untrusted(tmp_path / "a.wav", 10, DataFormatError, "WAV file")


# -- a model that never finishes ----------------------------------------------------------


def _never_finishing_run(tmp_path: Path, **limits: float):  # noqa: ANN202
    from ecoscore.runners.benchmark import run_benchmark

    return run_benchmark(
        quick_request(looping_classifier(tmp_path / "loop.onnx"), "loop", **limits)
    )


def test_a_model_that_never_finishes_is_stopped_by_the_quality_time_limit(tmp_path) -> None:
    from ecoscore.runners.watchdog import EngineTimeLimit

    start = time.monotonic()
    with pytest.raises(EngineTimeLimit, match="the quality pass did not finish within its time"):
        _never_finishing_run(tmp_path, quality_time_limit_s=1.0)
    assert time.monotonic() - start < 30


def test_the_time_limits_are_derived_from_the_workload_and_recorded(tmp_path) -> None:
    from ecoscore.benchmarks.base import ScenarioDefaults
    from ecoscore.runners.benchmark import time_limits
    from tests.run_helpers import quick_record

    full = time_limits(ScenarioDefaults(), quick=False, repeats=None)
    assert (full.window_s, full.quality_s) == (120.0, 1000.0)  # 10 x (10 s + 2 s); 10 x 100 s
    quick = time_limits(ScenarioDefaults(), quick=True, repeats=None)
    assert (quick.window_s, quick.quality_s) == (60.0, 300.0)  # the floors
    rec = quick_record(tmp_path)
    assert (rec.run.window_time_limit_s, rec.run.quality_time_limit_s) == (60.0, 300.0)


def test_a_window_over_its_limit_is_stopped_too(tmp_path) -> None:
    from ecoscore.runners.benchmark import run_benchmark
    from ecoscore.runners.watchdog import EngineTimeLimit

    # the quick warm-up alone lasts 0.2 s
    req = quick_request(linear_classifier(tmp_path / "m.onnx"), "m", window_time_limit_s=0.05)
    with pytest.raises(EngineTimeLimit, match="single_stream warm-up did not finish.* 0.05 s"):
        run_benchmark(req)


def test_an_engine_failure_is_one_line_and_out_of_memory_is_a_measurement_error() -> None:
    from ecoscore.errors import EXIT_INPUT, EXIT_MEASUREMENT
    from ecoscore.runners.watchdog import Watchdog

    class Failing:
        can_abort = False

        def __init__(self, error: BaseException) -> None:
            self.error = error

        def owns(self, e: BaseException) -> bool:
            return isinstance(e, RuntimeError)

        def run(self) -> None:
            raise self.error

    for error, code, words in (
        (MemoryError(), EXIT_MEASUREMENT, "ran out of memory"),
        (RuntimeError("Failed to allocate memory for tensor"), EXIT_MEASUREMENT, "out of memory"),
        (RuntimeError("Shape mismatch"), EXIT_INPUT, "the engine failed during the quality"),
    ):
        engine = Failing(error)
        with (
            pytest.raises(Exception) as exc,
            Watchdog(engine, "m.onnx") as dog,  # type: ignore[arg-type]
            dog.phase("the quality pass", 10),
        ):
            engine.run()
        assert exc.value.exit_code == code and words in str(exc.value), exc.value


def test_an_engine_without_abort_is_interrupted_in_python_and_only_while_armed() -> None:
    from ecoscore.runners.watchdog import EngineTimeLimit, Watchdog

    class PythonLoop:  # like an exported torch program: back in Python between operations
        can_abort = False

        def owns(self, e: BaseException) -> bool:
            return False

        def run(self, seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                time.sleep(0.001)

    engine = PythonLoop()
    with Watchdog(engine, "m.pt2") as dog:  # type: ignore[arg-type]
        start = time.monotonic()
        with (
            pytest.raises(EngineTimeLimit, match="window 1 did not finish"),
            dog.phase("window 1", 0.2),
        ):
            engine.run(60)
        assert time.monotonic() - start < 10
        with dog.phase("window 2", 0.2):
            engine.run(0.05)  # finishes in time
        time.sleep(0.4)  # past window 2's deadline, disarmed: nothing is raised


def test_the_time_limit_holds_off_the_main_thread_too(tmp_path) -> None:
    import threading

    from ecoscore.runners.engines.registry import make_engine
    from ecoscore.runners.watchdog import EngineTimeLimit, Watchdog

    engine = make_engine("onnxruntime", threads=1)
    engine.load(looping_classifier(tmp_path / "loop.onnx"))
    x = np.zeros((1, 1, 8, 8), np.float32)
    caught: list[BaseException] = []

    def worker() -> None:
        try:
            with Watchdog(engine, "loop.onnx") as dog, dog.phase("the quality pass", 0.5):
                engine.run(x)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            caught.append(e)

    t = threading.Thread(target=worker)
    t.start()
    t.join(timeout=30)
    assert not t.is_alive() and isinstance(caught[0], EngineTimeLimit), caught


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_an_engine_that_never_returns(tmp_path, sig) -> None:
    model = looping_classifier(tmp_path / "loop.onnx")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ecoscore", "run", "-w", "vision-digits", "-m", str(model),
           "--meter", "estimate", "--quick", "--out", str(out)]  # fmt: skip
    proc = start_run(cmd)  # returns once the run's handlers are in place
    time.sleep(6)  # inside the quality pass, in the Loop: the engine never returns by itself
    sent = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - sent < 10
    assert "interrupted: no record was written" in err and "Traceback" not in err
    assert not [p for p in out.rglob("*") if p.is_file()] if out.exists() else True


# -- settings taken from a record ---------------------------------------------------------


def test_settings_from_a_record_obey_this_machine(monkeypatch) -> None:
    from ecoscore.jury.replicate import engine_config, meter_config
    from ecoscore.runners.engines.registry import RecordedEngineError, config_from_record
    from ecoscore.runners.meters.registry import RecordedMeterError

    monkeypatch.setattr("ecoscore.runners.engines.base.machine_cpus", lambda: 2)
    cfg = {"engine": "onnxruntime", "threads": 400, "inter_op_threads": 400}
    notes: list[str] = []
    config = engine_config(make_record(updates={"engine": {"config": cfg}}), notes=notes)
    assert (config.threads, config.inter_op_threads) == (2, 2)
    assert len(notes) == 2 and "capped to this machine's 2 logical CPU(s)" in notes[0]
    trt = config_from_record({"engine": "tensorrt", "cache_dir": "/etc"}, "r", notes)
    assert trt.cache_dir is None and "never opened" in notes[-1]
    with pytest.raises(RecordedEngineError, match="unknown engine 'warp'"):
        config_from_record({"engine": "warp"})
    for meter in ({"meter": "csv", "path": "/etc/shadow"}, {"meter": "csv", "path": "/dev/zero"}):
        with pytest.raises(RecordedMeterError, match="never opened"):
            meter_config(make_record(updates={"meter": {"config": meter}}))
    with pytest.raises(RecordedMeterError, match="unknown meter 'teapot'"):
        meter_config(make_record(updates={"meter": {"config": {"meter": "teapot"}}}))
    busy = {"meter": "nvml", "poll_period_s": 1e-9}
    with pytest.raises(RecordedMeterError, match="poll_period_s"):
        meter_config(make_record(updates={"meter": {"config": busy}}))


def test_reproduce_never_opens_a_file_a_record_names(tmp_path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("timestamp,power_w\n1,SECRET-FIRST-LINE\n")
    config = {"meter": "csv", "path": str(secret)}
    rec = make_record(boundary="wall", updates={"meter": {"config": config}})
    res = invoke("reproduce", save_record(rec, tmp_path), "--out", tmp_path / "o")
    assert res.exit_code == 3 and "SECRET" not in res.stdout + res.stderr


# -- exit codes and streams: verify on odd folders ----------------------------------------


def test_verify_on_an_empty_folder_a_folder_of_bundles_and_upper_case_files(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    res = invoke("verify", tmp_path / "empty")
    assert res.exit_code == 3 and "no record found" in res.stderr and res.stdout == ""
    good = save_record(make_record(), tmp_path / "x")
    upper = tmp_path / "upper" / "RECORD.JSON"
    upper.parent.mkdir()
    upper.write_bytes(good.read_bytes())
    res = invoke("verify", upper.parent)
    assert res.exit_code == 0 and res.stdout.startswith("OK")
    bundles = tmp_path / "bundles"
    res = invoke("bundle", good, "--out", bundles / "SUB.ZIP", "--no-labels")
    assert res.exit_code == 0, res.stderr
    res = invoke("verify", bundles)
    assert res.exit_code == 0 and "1 of 1 record(s) pass" in res.stdout


# -- names in paths -----------------------------------------------------------------------


def test_workload_names_never_make_a_path_for_the_plots(tmp_path) -> None:
    recs = [
        make_record(updates={"workload": {"name": "../../escape"}}),
        make_record(updates={"workload": {"name": "a/b"}}),
    ]
    paths = [save_record(r, tmp_path / f"r{i}") for i, r in enumerate(recs)]
    out = tmp_path / "out"
    res = invoke("compare", *paths, "--plot", out / "p.svg")
    assert res.exit_code == 0, res.stderr
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 2 and all(n.startswith("p-") and "/" not in n for n in names), names
    assert not (tmp_path / "escape").exists() and not (tmp_path.parent / "escape").exists()


def test_a_key_name_outside_the_bmp_round_trips_and_ambiguous_keys_are_refused(tmp_path) -> None:
    import base64

    from ecoscore.jury.trust import TrustError, load_trusted_keys, trusted_keys_toml

    k1 = base64.b64encode(bytes(32)).decode()
    k2 = base64.b64encode(bytes(range(32))).decode()
    path = tmp_path / "keys.toml"
    path.write_text(trusted_keys_toml("Lab 🔬 \U0001d4db", k1), encoding="utf-8")
    assert load_trusted_keys(path).keys[0].name == "Lab 🔬 \U0001d4db"
    path.write_text(trusted_keys_toml("Lab", k1) + trusted_keys_toml("Lab", k2))
    with pytest.raises(TrustError, match="two different keys are named 'Lab'"):
        load_trusted_keys(path)
    path.write_text(trusted_keys_toml("Lab A", k1) + trusted_keys_toml("Lab B", k1))
    with pytest.raises(TrustError, match="one key is listed under two names"):
        load_trusted_keys(path)


def test_score_json_is_strict_and_terminal_safe_with_an_infinite_figure(tmp_path) -> None:
    path = _with_infinity(make_record(model_name="\x9b2J"), "idle", "power_w", tmp_path / "r.json")
    res = invoke("score", "--json", path)
    assert res.exit_code == 0, res.stderr
    terminal_safe(res.stdout)
    out = json.loads(res.stdout, parse_constant=lambda t: pytest.fail(t))
    assert out["results"][0]["grade"]["model"] == "\x9b2J"  # the JSON still means the name
    assert np.isfinite(out["results"][0]["grade"]["quality_value"])


def test_csv_of_a_name_with_a_line_break_stays_one_row() -> None:
    cell = safe_text.csv_cell("a\nb")
    rows = list(csv.reader(io.StringIO(cell + "\n")))
    assert rows == [["a\\nb"]]


def test_a_window_of_zero_inferences_is_a_finding_not_a_crash(tmp_path) -> None:
    rec = make_record()
    single = rec.scenarios[0]
    windows = [single.windows[0].model_copy(update={"inferences": 0}), *single.windows[1:]]
    rec = rec.model_copy(
        update={"scenarios": [single.model_copy(update={"windows": windows})]}
    ).with_id()
    res = invoke("verify", save_record(rec, tmp_path))  # found by the property tests
    assert res.exit_code == 7 and "inferences must be positive" in res.stdout, res.stdout
