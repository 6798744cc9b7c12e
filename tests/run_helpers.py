"""Shared helpers: a quick real run of a small model, to get genuine records in tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ecoscore.benchmarks.registry import get_workload
from ecoscore.record import RunRecord
from ecoscore.runners.benchmark import RunRequest, run_benchmark
from ecoscore.runners.engines.registry import engine_config
from ecoscore.runners.host import describe_device
from ecoscore.runners.meters.codecarbon_estimate import CodeCarbonCpuEstimate
from tests.onnx_models import linear_classifier


def quick_request(model: Path, name: str, **settings: object) -> RunRequest:
    """A quick vision-digits run of ``model`` through onnxruntime (1 thread), energy from
    the CodeCarbon estimate; ``settings`` are further RunRequest fields."""
    return RunRequest(
        workload=get_workload("vision-digits"),
        model_path=model,
        model_name=name,
        model_role="user",
        engine_config=engine_config("onnxruntime", threads=1),
        meter=CodeCarbonCpuEstimate(),
        device=describe_device(),
        quick=True,
        **settings,  # type: ignore[arg-type]
    )


def quick_record(tmp: Path, repeats: int = 2) -> RunRecord:
    model = linear_classifier(Path(tmp) / "linear.onnx")
    return run_benchmark(quick_request(model, "linear-random", repeats=repeats))


def default_signals() -> None:
    """For ``subprocess.Popen(preexec_fn=...)``: the child starts with SIGINT and SIGTERM at
    their default dispositions and unblocked, whatever the test process inherited or set
    (exec keeps ignored signals and the mask), so that a signal test sees ecoscore's own
    handling."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def start_run(cmd: list[str]) -> subprocess.Popen[str]:
    """Start an ``ecoscore run`` command line as a child process with default, unblocked
    signals, and return once it printed its meter line (its signal handlers are then in
    place)."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_signals,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first.startswith("meter:"), first
    return proc
