"""Build complete, valid run records for tests (other test files import this).

``make_record(**overrides)`` returns a RunRecord with its record_id set. The common knobs are
keyword arguments; anything else in the record can be replaced through ``updates``, a dict of
top-level section name -> dict of field overrides (e.g. ``{"device": {"name": "X"}}``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

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
    Stat,
    Window,
    WorkloadRef,
)

WORKLOADS: dict[str, dict[str, Any]] = {
    "vision-digits": {
        "family": "vision",
        "task": "classification",
        "metric": "accuracy",
        "quality_gate": 0.95,
        "eval_samples": 360,
    },
    "nlp-intent": {
        "family": "nlp",
        "task": "classification",
        "metric": "macro_f1",
        "quality_gate": 0.85,
        "eval_samples": 400,
    },
    "anomaly-machine": {
        "family": "anomaly",
        "task": "anomaly",
        "metric": "roc_auc",
        "quality_gate": 0.80,
        "eval_samples": 500,
    },
}


#: Tests were written against a reference point of 2e-4 J; energies in them are multiples
#: of that point, scaled here to the shipped 2026.1 vision-digits point so that every test
#: keeps its meaning (same class, same distance to the bounds) whatever the calibration.
from ecoscore.grading.scale import load_scale as _load_scale  # noqa: E402

_SCALE = _load_scale("2026.1")
REF_J = _SCALE.workloads["vision-digits"].reference_energy_per_inference_j
K = REF_J / 2e-4


def _stat(median: float, cv: float, n: int) -> Stat:
    spread = median * cv * 1.5
    return Stat(
        median=median,
        ci_low=median - spread,
        ci_high=median + spread,
        ci_level=0.9375 if n == 5 else 0.75,
        cv=cv,
        n=n,
    )


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
    w = WORKLOADS[workload]
    if energy_per_inference_j is None:  # the workload's own reference point: class C
        energy_per_inference_j = _SCALE.workloads[workload].reference_energy_per_inference_j
    gate = float(w["quality_gate"])
    q = quality if quality is not None else min(gate + 0.03, 0.999)
    if uncertainty_rel is None:
        uncertainty_rel = 0.05 if measurement == "MEASURED" else 0.5
    inferences = 20000
    duration = inferences * latency_ms / 1000.0
    power = energy_per_inference_j * inferences / duration
    windows = [
        Window(
            energy_j=energy_per_inference_j * inferences,
            net_energy_j=energy_per_inference_j * inferences * 0.4,
            duration_s=duration,
            queries=inferences,
            inferences=inferences,
            sensor_updates=1000 if measurement == "MEASURED" else None,
            valid=valid,
            invalid_reason=None if valid else "too few sensor updates",
        )
        for _ in range(repeats)
    ]
    single = ScenarioResult(
        name="single_stream",
        batch_size=1,
        min_duration_s=10.0,
        min_queries=1024,
        warmup_s=2.0,
        windows=windows,
        valid=valid,
        energy_per_inference_j=_stat(energy_per_inference_j, cv, repeats),
        net_energy_per_inference_j=_stat(energy_per_inference_j * 0.4, cv, repeats),
        power_w=_stat(power, cv, repeats),
        throughput_per_s=_stat(1000.0 / latency_ms, cv, repeats),
        latency=Latency(
            p50_ms=latency_ms,
            p90_ms=latency_ms * 1.3,
            p99_ms=latency_ms * 2,
            mean_ms=latency_ms * 1.05,
            std_ms=latency_ms * 0.1,
            min_ms=latency_ms * 0.8,
            max_ms=latency_ms * 5,
            count=inferences,
        ),
    )
    sections: dict[str, dict[str, Any]] = {
        "workload": dict(
            name=workload,
            version="1.0",
            family=w["family"],
            task=w["task"],
            definition_sha256="d" * 64,
            eval_data_sha256="e" * 64,
            eval_samples=w["eval_samples"],
            metric=w["metric"],
            quality_gate=gate,
        ),
        "model": dict(
            name=model_name,
            file_name=f"{model_name}.onnx",
            format="onnx",
            sha256="ab12cd34" + "0" * 56,
            size_bytes=120_000,
            parameter_count=30_000,
            role=role,
        ),
        "engine": dict(
            name="onnxruntime-cpu",
            version="1.20.0",
            device="cpu",
            precision="fp32",
            settings={"intra_op_num_threads": 1},
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
            name="rapl" if measurement == "MEASURED" else "codecarbon-estimate",
            source="test meter",
            boundary=boundary,
            measurement=measurement,
            sampling_period_s=0.001 if measurement == "MEASURED" else None,
            uncertainty_rel=uncertainty_rel,
        ),
        "idle": dict(power_w=power * 0.6, energy_j=power * 0.6 * 5, duration_s=5.0, valid=True),
        "quality": dict(
            metric=w["metric"],
            value=q,
            gate=gate,
            passed=q >= gate,
            samples=w["eval_samples"],
            batch_size=64,
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
