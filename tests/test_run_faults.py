"""Faults around a run: interruption, a full disk, concurrent writers, no network."""

import os
import signal
import socket
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from ecoscore.cli import app
from ecoscore.record import RecordWriteError, load_record, save_record
from tests.onnx_models import linear_classifier
from tests.record_factory import make_record
from tests.run_helpers import start_run

runner = CliRunner()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_no_record_and_exits_130(tmp_path, sig):
    model = linear_classifier(tmp_path / "m.onnx")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ecoscore", "run", "--workload", "vision-digits",
           "--model", str(model), "--meter", "estimate", "--out", str(out)]  # fmt: skip
    proc = start_run(cmd)  # returns once the run's handlers are in place
    time.sleep(6)  # inside the run (device idle, quality or the default 10 s windows)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: no record was written" in err
    assert "Traceback" not in err
    leftovers = list(out.rglob("*")) if out.exists() else []
    assert not [p for p in leftovers if p.is_file()], leftovers


def test_disk_full_is_a_clear_error_and_keeps_earlier_records(tmp_path, monkeypatch):
    first = save_record(make_record(), tmp_path)
    before = first.read_bytes()

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(RecordWriteError, match="No space left on device"):
        save_record(make_record(quality=0.97), tmp_path)
    assert first.read_bytes() == before
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [first.name]


def test_cli_reports_unwritable_results_folder(tmp_path, monkeypatch):
    model = linear_classifier(tmp_path / "m.onnx")
    blocker = tmp_path / "out"
    blocker.write_text("a file where the results folder should be")
    res = runner.invoke(
        app,
        [
            "run",
            "--workload",
            "vision-digits",
            "--model",
            str(model),
            "--quick",
            "--repeats",
            "1",
            "--meter",
            "estimate",
            "--out",
            str(blocker),
        ],
    )
    assert res.exit_code == 6, res.output
    assert "exists and is not a folder" in res.output
    assert blocker.read_text().startswith("a file")


def test_concurrent_writers_do_not_clobber(tmp_path):
    records = [make_record(quality=0.95 + i / 1000) for i in range(16)]
    threads = [threading.Thread(target=save_record, args=(r, tmp_path)) for r in records]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    files = sorted((tmp_path / "runs").glob("*.json"))
    assert len(files) == 16
    assert {load_record(f).record_id for f in files} == {r.record_id for r in records}
    assert not list((tmp_path / "runs").glob(".*.tmp"))


def test_full_run_works_with_networking_blocked(tmp_path, monkeypatch):
    attempts = []

    def refuse(self, address, *a, **k):
        attempts.append(address)
        raise OSError("network blocked by test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        ["run", "--workload", "anomaly-machine", "--quick", "--repeats", "1", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert attempts == []
    assert len(list((out / "runs").glob("*.json"))) == 1
