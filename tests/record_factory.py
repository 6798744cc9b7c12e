"""Build complete, valid run records for tests (other test files import this).

``make_record(**overrides)`` returns a RunRecord with its record_id set. The common knobs are
keyword arguments; anything else in the record can be replaced through ``updates``, a dict of
top-level section name -> dict of field overrides (e.g. ``{"device": {"name": "X"}}``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ecoscore.benchmarks.base import WorkloadInfo
from ecoscore.benchmarks.registry import get_workload
from ecoscore.record import (
    DeviceRef,
    EngineRef,
    IdleBaseline,
    Latency,
    MeterRef,
    ModelRef,
    Provenance,
    Quality,
    RunRecord,
    RunSettings,
    ScenarioResult,
    Window,
    WorkloadRef,
)
from ecoscore.runners.stats import median_stat


@functools.cache
def installed(workload: str) -> tuple[WorkloadInfo, str, int]:
    """The installed definition of a bundled workload, its evaluation data's sha256 and
    evaluation set size: factory records are about the workloads verify knows."""
    wl = get_workload(workload)
    return wl.info, wl.eval_data_sha256(), len(wl.eval_split())


#: Tests were written against a reference point of 2e-4 J; energies in them are multiples
#: of that point, scaled here to the shipped 2026.1 vision-digits point so that every test
#: keeps its meaning (same class, same distance to the bounds) whatever the calibration.
from ecoscore.grading.scale import load_scale as _load_scale  # noqa: E402

_SCALE = _load_scale("2026.1")
REF_J = _SCALE.workloads["vision-digits"].reference_energy_per_inference_j
K = REF_J / 2e-4

#: Meter per boundary: a measured record names a meter that can report its boundary.
_METERS = {
    "cpu-package": ("rapl", {"meter": "rapl", "domains": "package"}),
    "cpu+dram": ("rapl", {"meter": "rapl", "domains": "package+dram"}),
    "gpu": ("nvml", {"meter": "nvml", "index": 0, "mode": "counter", "poll_period_s": 0.02}),
    "board-input": ("jetson", {"meter": "jetson", "period_s": 0.01, "rails": None}),
    "gpu+cpu-package": (
        "nvml+rapl",
        {
            "meter": "sum",
            "parts": [
                {"meter": "nvml", "index": 0, "mode": "counter", "poll_period_s": 0.02},
                {"meter": "rapl", "domains": "package"},
            ],
        },
    ),
}


def _spread(median: float, cv: float, n: int) -> list[float]:
    """n values around ``median`` whose [min, max] is median x (1 -/+ 1.5 cv): the
    confidence interval the tests were written for."""
    if n == 1:
        return [median]
    offsets = np.linspace(-1.5, 1.5, n) * cv
    return [median * (1 + float(o)) for o in offsets]


def make_record(
    workload: str = "vision-digits",
    energy_per_inference_j: float | None = None,
    cv: float = 0.02,
    repeats: int = 5,
    measurement: Literal["MEASURED", "ESTIMATED"] = "MEASURED",
    uncertainty_rel: float | None = None,
    quality: float | None = None,
    model_name: str = "digits-cnn",
    role: Literal["reference", "baseline", "user"] = "reference",
    device_kind: Literal["cpu", "gpu", "board"] = "cpu",
    device_name: str = "Intel(R) Xeon(R) Gold 6134 CPU @ 3.20GHz",
    boundary: str = "cpu-package",
    latency_ms: float = 0.05,
    valid: bool = True,
    quick: bool = False,
    finished_utc: str = "2026-11-23T10:00:00Z",
    updates: dict[str, dict[str, Any]] | None = None,
) -> RunRecord:
    """A consistent record: every summary is what its windows give, the workload is the
    installed one, the meter can report the boundary. ``updates`` replaces fields of a
    section after that (to build inconsistent or hostile records)."""
    info, eval_sha, eval_samples = installed(workload)
    if energy_per_inference_j is None:  # the workload's own reference point: class C
        energy_per_inference_j = _SCALE.workloads[workload].reference_energy_per_inference_j
    gate = info.quality_gate
    q = quality if quality is not None else min(gate + 0.03, 0.999)
    if uncertainty_rel is None:
        uncertainty_rel = 0.05 if measurement == "MEASURED" else 0.5
    queries = 20000
    duration = queries * latency_ms / 1000.0
    power = energy_per_inference_j / (latency_ms / 1000.0)
    idle_w = power * 0.6
    windows = []
    for e in _spread(energy_per_inference_j, cv, repeats):
        energy = e * queries
        windows.append(
            Window(
                energy_j=energy,
                net_energy_j=energy - idle_w * duration,
                duration_s=duration,
                queries=queries,
                inferences=queries,
                sensor_updates=1000 if measurement == "MEASURED" else None,
                valid=valid,
                invalid_reason=None if valid else "too few sensor updates",
            )
        )
    ok = [w for w in windows if w.valid]
    single = ScenarioResult(
        name="single_stream",
        batch_size=1,
        min_duration_s=10.0,
        min_queries=1024,
        warmup_s=2.0,
        windows=windows,
        valid=valid,
        energy_per_inference_j=median_stat([w.energy_j / w.inferences for w in ok]) if ok else None,
        net_energy_per_inference_j=(
            median_stat([w.net_energy_j / w.inferences for w in ok]) if ok else None
        ),
        power_w=median_stat([w.energy_j / w.duration_s for w in ok]) if ok else None,
        throughput_per_s=median_stat([w.inferences / w.duration_s for w in windows]),
        latency=Latency(
            p50_ms=latency_ms,
            p90_ms=latency_ms * 1.3,
            p99_ms=latency_ms * 2,
            mean_ms=latency_ms * 1.05,
            std_ms=latency_ms * 0.1,
            min_ms=latency_ms * 0.8,
            max_ms=latency_ms * 5,
            count=queries * repeats,
        ),
    )
    if measurement == "MEASURED":
        meter_name, meter_config = _METERS.get(boundary, ("csv", None))
        if meter_config is None:
            meter_config = {"meter": "csv", "path": "power.csv", "boundary": boundary}
    else:
        meter_name, meter_config = "codecarbon-estimate", {"meter": "estimate"}
    model_sha = "ab12cd34" + "0" * 56
    sections: dict[str, dict[str, Any]] = {
        "workload": dict(
            name=workload,
            version=info.version,
            family=info.family,
            task=info.task,
            definition_sha256=info.definition_sha256(),
            eval_data_sha256=eval_sha,
            eval_samples=eval_samples,
            metric=info.metric,
            quality_gate=gate,
        ),
        "model": dict(
            name=model_name,
            file_name=f"{model_name}.onnx",
            format="onnx",
            sha256=model_sha,
            size_bytes=120_000,
            parameter_count=30_000,
            role=role,
            files=[{"name": f"{model_name}.onnx", "sha256": model_sha, "size_bytes": 120_000}],
        ),
        "engine": dict(
            name="onnxruntime",
            version="1.20.0",
            device="cpu",
            precision="fp32",
            settings={"intra_op_num_threads": 1},
            config={"engine": "onnxruntime", "device": "cpu", "precision": "fp32", "threads": 1},
        ),
        "device": dict(
            kind=device_kind,
            name=device_name,
            cpu_model="Intel(R) Xeon(R) Gold 6134 CPU @ 3.20GHz",
            cpu_count_logical=16,
            memory_bytes=64 * 2**30,
            os="Linux 6.8",
            machine="x86_64",
        ),
        "meter": dict(
            name=meter_name,
            source="test meter",
            boundary=boundary,
            measurement=measurement,
            sampling_period_s=0.001 if measurement == "MEASURED" else None,
            uncertainty_rel=uncertainty_rel,
            requested="auto",
            config=meter_config,
        ),
        "idle": dict(power_w=idle_w, energy_j=idle_w * 5, duration_s=5.0, valid=True),
        "quality": dict(
            metric=info.metric,
            value=q,
            gate=gate,
            passed=q >= gate,
            samples=eval_samples,
            batch_size=1,
            computed_by="ecoscore",
        ),
        "run": dict(quick=quick, repeats=repeats, seed=0),
        "provenance": dict(
            ecoscore_version="0.1.0",
            command_line=["ecoscore", "run"],
            started_utc="2026-11-23T09:58:00Z",
            finished_utc=finished_utc,
            python="3.11.9",
            os="Linux 6.8",
            packages={},
            seeds={"numpy": 0},
        ),
    }
    for section, fields in (updates or {}).items():
        sections[section] = {**sections[section], **fields}
    record = RunRecord(
        workload=WorkloadRef(**sections["workload"]),
        model=ModelRef(**sections["model"]),
        engine=EngineRef(**sections["engine"]),
        device=DeviceRef(**sections["device"]),
        meter=MeterRef(**sections["meter"]),
        idle=IdleBaseline(**sections["idle"]),
        scenarios=[single],
        quality=Quality(**sections["quality"]),
        run=RunSettings(**sections["run"]),
        provenance=Provenance(**sections["provenance"]),
        assurance=(
            "estimated"
            if measurement == "ESTIMATED"
            else ("self-reported" if meter_name == "csv" else "self-measured")
        ),
    )
    return record.with_id()


def ten_records(
    folder: Path,
    models: tuple[tuple[str, float, float], ...],
    notes: str | None = None,
) -> list[Path]:
    """Ten saved records of three models on vision-digits, spread by repeat.

    ``models`` holds (name, energy per inference at the 2e-4 J reference, quality); the
    energy is scaled by K like every other test energy.
    """
    from ecoscore.record import save_record

    paths = []
    for i in range(10):
        name, energy, quality = models[i % 3]
        rec = make_record(
            model_name=name,
            energy_per_inference_j=energy * K * (1 + 0.04 * i),
            quality=quality - 0.001 * i,
            finished_utc=f"2026-11-23T10:{i:02d}:00Z",
            updates={"provenance": {"notes": notes}} if notes is not None else None,
        )
        paths.append(save_record(rec, folder))
    return paths


def with_interference(record: RunRecord, shares: list[float], note: bool = True) -> RunRecord:
    """``record`` with the interference probe's figures in its single-stream windows: other
    processes' share of the CPUs per window (``note``: with the probe's note, as a run
    writes it above the threshold)."""
    from ecoscore.runners.interference import OTHER_CPU_SHARE_THRESHOLD

    doc = record.model_dump(mode="json")
    for w, share in zip(doc["scenarios"][0]["windows"], shares, strict=False):
        flagged = note and share > OTHER_CPU_SHARE_THRESHOLD
        w["details"] = {
            "other_cpu_share": share,
            "interference": f"other processes used {share:.0%} of the CPUs" if flagged else None,
        }
    return RunRecord.model_validate(doc).with_id()
