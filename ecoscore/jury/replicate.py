"""Replication: re-run a recorded workload, model and engine on this machine and say whether
the result agrees with the original within tolerances.

Tolerances depend on the hardware. On the same hardware (same device name and CPU model)
the replication must agree tightly; on other hardware only loosely, and the report says
so. Relative quantities (latency, energy) are compared as a ratio, both ways, and the
allowed ratio widens with the spread of the repeats of both runs (ecoscore.grading.uncertainty).

A quick replication (``reproduce --quick``, or the replication of a quick run) is a first
look: its record says ``run.quick`` (inside its content hash) and its notes say so, and a
comparison shows it but never counts it as a replication (ecoscore.jury.compare).

The engine runs each scenario with the settings the record chose for it (``--threads
auto``: ``scenario.tuning.chosen``), as given: a replication does not tune again, so that it
measures the same configuration (docs/measuring.md, "Engine settings").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecoscore.benchmarks.base import Workload
from ecoscore.errors import InputError
from ecoscore.grading.indicators import format_quantity
from ecoscore.grading.uncertainty import repeats_log_sigma
from ecoscore.jury.summary import RecordSummary, StatBrief
from ecoscore.record import DeviceRef, RunRecord, Stat
from ecoscore.runners.engines.base import EngineConfig
from ecoscore.runners.meters.base import Meter, MeterConfig


class ReplicationError(InputError):
    """A replication cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class Tolerances:
    label: str
    quality_abs: float  # largest difference of the quality metric
    latency_factor: float  # largest ratio of the single-stream p50 latencies
    energy_factor: float  # largest ratio of the single-stream energies per inference


SAME_HARDWARE = Tolerances("same hardware: tight tolerances", 0.002, 1.35, 1.35)
QUICK_SAME_HARDWARE = Tolerances(
    "same hardware, quick run: wide tolerances (a quick run's windows are too short for "
    "tight ones; replicate a full run to check closely)",
    0.002,
    3.0,
    3.0,
)
OTHER_HARDWARE = Tolerances(
    "different hardware: loose tolerances (only the order of magnitude is checked)",
    0.02,
    3.0,
    3.0,
)
#: Spread of the repeats widens the allowed ratio by this many combined log-sigmas.
SIGMA_WIDENING = 3.0


@dataclass(frozen=True)
class Check:
    name: str
    original: float | None
    replicated: float | None
    allowed: str
    observed: str
    within: bool
    #: Unit of ``original`` and ``replicated``: "J" (shown with an SI prefix), "ms", or ""
    #: for a quality metric.
    unit: str = ""


@dataclass(frozen=True)
class ReplicationReport:
    original_id: str
    replication_id: str
    same_hardware: bool
    tolerances: Tolerances
    checks: tuple[Check, ...]

    @property
    def replicated(self) -> bool:
        return all(c.within for c in self.checks)

    @property
    def verdict(self) -> str:
        if self.replicated:
            return "replicated"
        failed = ", ".join(c.name for c in self.checks if not c.within)
        return f"not replicated ({failed})"

    def lines(self) -> list[str]:
        head = (
            f"replication {self.replication_id[:12]} of {self.original_id[:12]}: "
            f"{self.verdict}; {self.tolerances.label}"
        )
        out = [head]
        for c in self.checks:
            mark = "ok  " if c.within else "FAIL"
            out.append(
                f"  {mark} {c.name}: original {_num(c.original, c.unit)}, replication "
                f"{_num(c.replicated, c.unit)}; {c.observed} (allowed {c.allowed})"
            )
        return out


def _num(v: float | None, unit: str = "") -> str:
    if v is None:
        return "n/a"
    if unit == "J":
        return format_quantity(v, "J", 4)
    return f"{v:.4g} {unit}" if unit else f"{v:.6g}"


#: A record, or what a comparison keeps of it: both have what compare_runs reads.
Comparable = RunRecord | RecordSummary


def same_hardware(a: Comparable, b: Comparable) -> bool:
    return (a.device.kind, a.device.name, a.device.cpu_model) == (
        b.device.kind,
        b.device.name,
        b.device.cpu_model,
    )


def _ratio_check(
    name: str,
    a: Stat | StatBrief | None,
    b: Stat | StatBrief | None,
    factor: float,
    *,
    a_val: float | None = None,
    b_val: float | None = None,
    unit: str = "",
) -> Check:
    va = a.median if a is not None else a_val
    vb = b.median if b is not None else b_val
    if va is None or vb is None or not (va > 0 and vb > 0):
        return Check(name, va, vb, f"x{factor:g}", "missing or not positive", False, unit)
    spread = 0.0
    if a is not None and b is not None:
        spread = math.hypot(repeats_log_sigma(a)[0], repeats_log_sigma(b)[0]) * SIGMA_WIDENING
    allowed = max(math.log(factor), spread)
    observed = abs(math.log(vb / va))
    return Check(
        name,
        va,
        vb,
        f"x{math.exp(allowed):.3g}",
        f"ratio {vb / va:.3g}",
        observed <= allowed,
        unit,
    )


def compare_runs(original: Comparable, replication: Comparable) -> ReplicationReport:
    """Compare quality, single-stream latency (ms) and energy per inference (J)."""
    same = same_hardware(original, replication)
    quick = original.run.quick or replication.run.quick
    tol = (QUICK_SAME_HARDWARE if quick else SAME_HARDWARE) if same else OTHER_HARDWARE
    energy_factor = tol.energy_factor
    if "ESTIMATED" in (original.meter.measurement, replication.meter.measurement):
        # an estimate moves with things it does not see (e.g. other processes' CPU load)
        u = max(original.meter.uncertainty_rel, replication.meter.uncertainty_rel)
        energy_factor = max(energy_factor, 1.0 + 2.0 * u)
    q_diff = abs(replication.quality.value - original.quality.value)
    checks = [
        Check(
            f"quality ({original.quality.metric})",
            original.quality.value,
            replication.quality.value,
            f"+/-{tol.quality_abs:g}",
            f"difference {q_diff:.3g}",
            q_diff <= tol.quality_abs,
        )
    ]
    a, b = original.scenario("single_stream"), replication.scenario("single_stream")
    lat_a = a.latency.p50_ms if a is not None and a.latency is not None else None
    lat_b = b.latency.p50_ms if b is not None and b.latency is not None else None
    checks.append(
        _ratio_check(
            "latency p50", None, None, tol.latency_factor, a_val=lat_a, b_val=lat_b, unit="ms"
        )
    )
    checks.append(
        _ratio_check(
            "energy per inference",
            a.energy_per_inference_j if a is not None else None,
            b.energy_per_inference_j if b is not None else None,
            energy_factor,
            unit="J",
        )
    )
    return ReplicationReport(
        original_id=original.record_id,
        replication_id=replication.record_id,
        same_hardware=same,
        tolerances=tol,
        checks=tuple(checks),
    )


def find_model_file(record: RunRecord, model: Path | None) -> Path:
    """The model file to re-run: ``model`` (its sha256 must match the record) or a reference
    model under models/ with the recorded sha256."""
    from ecoscore.models.registry import find_by_sha256
    from ecoscore.runners.model_files import inspect_model

    want = record.model.sha256
    if model is not None:
        model = Path(model)
        if not model.is_file():
            raise ReplicationError(f"{model}: model file not found")
        got = inspect_model(model).sha256  # every file it loads: external data included
        if got != want:
            raise ReplicationError(
                f"{model}: sha256 {got[:12]} (over every file it loads) differs from the "
                f"recorded model's {want[:12]} ({record.model.file_name}); refusing to "
                "replicate with another model"
            )
        return model
    found = find_by_sha256(want)
    if found is None:
        raise ReplicationError(
            f"the recorded model {record.model.name!r} ({record.model.file_name}, sha256 "
            f"{want[:12]}) is not one of the reference models under models/; give it with "
            "--model"
        )
    return found


_ORT_LEVELS = {
    "ORT_DISABLE_ALL": "disable",
    "ORT_ENABLE_BASIC": "basic",
    "ORT_ENABLE_EXTENDED": "extended",
    "ORT_ENABLE_ALL": "all",
}


def engine_config(
    record: RunRecord, device: str | None = None, notes: list[str] | None = None
) -> EngineConfig:
    """The engine config that reproduces the recorded engine (``device`` overrides its
    device), under the rules of a config read from a record (threads capped to this
    machine, no path taken; what changed is appended to ``notes``). A 1.0 record has no
    stored config: it is rebuilt from the settings it has."""
    from ecoscore.runners.engines.registry import config_from_record

    source = f"record {record.record_id[:12]}"
    stored = record.engine.config
    if stored is not None:
        doc = dict(stored)
        if device is not None:
            doc["device"] = device
        return config_from_record(doc, source, notes)
    s, e = record.engine.settings, record.engine
    settings: dict[str, object] = {"device": device or e.device, "precision": e.precision}
    if e.name == "onnxruntime":
        settings["threads"] = s.get("intra_op_num_threads")
        settings["inter_op_threads"] = s.get("inter_op_num_threads", 1)
        settings["spinning"] = s.get("allow_spinning", True)
        level = str(s.get("graph_optimization_level", "ORT_ENABLE_ALL"))
        settings["graph_optimization"] = _ORT_LEVELS.get(level, "all")
    elif e.name == "torch":
        settings["threads"] = s.get("num_threads")
        for key, recorded in (
            ("channels_last", "channels_last"),
            ("compile", "torch_compile"),
            ("cuda_graph", "cuda_graph_batch1"),
        ):
            if s.get(recorded):
                settings[key] = True
    doc = {"engine": e.name, **{k: v for k, v in settings.items() if v is not None}}
    return config_from_record(doc, source, notes)


def scenario_engine_settings(
    record: RunRecord, notes: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Per scenario, the tunable engine settings the record ran it with (``tuning.chosen``):
    a replication runs them as given, user-chosen, instead of tuning again, so that it
    measures the same configuration. Thread counts above this machine's logical CPUs are
    capped to them (said in ``notes``)."""
    from ecoscore.runners.engines.base import machine_cpus

    cpus = machine_cpus()
    out: dict[str, dict[str, Any]] = {}
    for sc in record.scenarios:
        if sc.tuning is None:
            continue
        chosen = dict(sc.tuning.chosen)
        threads = chosen.get("threads")
        if isinstance(threads, int) and not isinstance(threads, bool) and threads > cpus:
            if notes is not None:
                notes.append(
                    f"{sc.name}: engine setting threads={threads} from the record capped to "
                    f"this machine's {cpus} logical CPU(s)"
                )
            chosen["threads"] = cpus
        out[sc.name] = chosen
    return out


def meter_config(record: RunRecord) -> MeterConfig:
    """The meter config that reproduces the recorded meter, under the rules of a config
    read from a record (``MeterConfig``): a meter this ecoscore does not have is refused,
    and so is one that reads a file the record names (an external power log is never
    opened from a record's path: the replication needs its own, ``--meter csv:PATH``)."""
    from ecoscore.runners.meters.registry import config_from_record

    stored = record.meter.config
    if stored is None:  # a 1.0 record: by the meter's name
        name = "estimate" if record.meter.measurement == "ESTIMATED" else record.meter.name
        stored = {"meter": name}
    return config_from_record(dict(stored), f"record {record.record_id[:12]}")


def check_workload(record: RunRecord, workload: Workload) -> None:
    """The workload here must be the one recorded (same version, definition and data)."""
    info = workload.info
    ref = record.workload
    here = (info.version, info.definition_sha256(), workload.eval_data_sha256())
    there = (ref.version, ref.definition_sha256, ref.eval_data_sha256)
    if here != there:
        raise ReplicationError(
            f"workload {ref.name}: this ecoscore has version {here[0]} (definition "
            f"{here[1][:12]}, data {here[2][:12]}); the record was made with version "
            f"{there[0]} (definition {there[1][:12]}, data {there[2][:12]}); cannot replicate"
        )


#: What the notes of a quick replication say (a first look, never counted).
QUICK_NOTE = "quick replication (reproduce --quick): a first look, never counted as a replication"


def as_replication(original: RunRecord, new: RunRecord) -> tuple[RunRecord, ReplicationReport]:
    """Mark a fresh run as a replication of ``original`` and compare the two. The verdict is
    written into the record's provenance notes (inside the content hash); a quick
    replication of a full run says that it is only a first look."""
    marked = new.model_copy(
        update={"record_type": "replication", "replicates": original.record_id, "signature": None}
    ).with_id()
    report = compare_runs(original, marked)
    notes = f"replication of {original.record_id}: {report.verdict}; {report.tolerances.label}"
    if new.run.quick and not original.run.quick:
        notes = f"{QUICK_NOTE}; {notes}"
    provenance = marked.provenance.model_copy(update={"notes": notes})
    final = marked.model_copy(update={"provenance": provenance}).with_id()
    return final, compare_runs(original, final)


def replicate(
    original: RunRecord,
    model_path: Path,
    engine: EngineConfig,
    meter: Meter,
    device: DeviceRef,
    meter_requested: str | None = None,
    step: Callable[[str], None] | None = None,
    quick: bool = False,
    notes: list[str] | None = None,
) -> tuple[RunRecord, ReplicationReport]:
    """Re-run ``original``'s workload with the given model file, engine and meter (same
    quick setting and repeats), then compare. ``quick``: a quick run whatever the original
    was (a first look, which never counts as a replication)."""
    from ecoscore.benchmarks.registry import get_workload
    from ecoscore.runners.benchmark import RunRequest, run_benchmark

    if original.workload.data_source != "bundled":
        raise ReplicationError(
            f"workload {original.workload.name} reads user data; replicate it with "
            "`ecoscore run --data` and compare the records"
        )
    wl = get_workload(original.workload.name)
    check_workload(original, wl)
    scenarios = tuple(s.name for s in original.scenarios)
    req = RunRequest(
        workload=wl,
        model_path=model_path,
        model_name=original.model.name,
        model_role=original.model.role,
        engine_config=engine,
        meter=meter,
        device=device,
        quick=original.run.quick or quick,
        repeats=None if quick and not original.run.quick else original.run.repeats,
        meter_requested=meter_requested,
        scenarios=scenarios,
        quality_time_limit_s=original.run.quality_time_limit_s,
        window_time_limit_s=original.run.window_time_limit_s,
        scenario_engine=scenario_engine_settings(original, notes),
    )
    new = run_benchmark(req, step)
    return as_replication(original, new)
