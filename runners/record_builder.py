"""One place builds a run record from a run's parts, for the measurement loop
(``runners.benchmark``) and the pytest plugin alike: what the record says about the
workload, the model file, the engine and the meter is written here only."""

from __future__ import annotations

from ecoscore.benchmarks.base import Workload
from ecoscore.record import (
    EngineRef,
    MeterRef,
    ModelFileRef,
    ModelRef,
    WorkloadRef,
)
from ecoscore.runners.engines.base import EngineInfo
from ecoscore.runners.meters.base import Measurement, Meter
from ecoscore.runners.model_files import ModelFile

#: A data check's files are listed in the record up to this many (a folder of thousands of
#: clips is covered by ``eval_data_sha256`` alone).
MAX_RECORDED_DATA_FILES = 32


def workload_ref(wl: Workload, eval_sha256: str, eval_samples: int) -> WorkloadRef:
    info = wl.info
    file = wl.definition_file
    check = wl.data_check()
    files = dict(check.files) if len(check.files) <= MAX_RECORDED_DATA_FILES else {}
    return WorkloadRef(
        name=info.name,
        version=info.version,
        family=info.family,
        task=info.task,
        definition_sha256=info.definition_sha256(),
        eval_data_sha256=eval_sha256,
        eval_samples=eval_samples,
        metric=info.metric,
        quality_gate=info.quality_gate,
        data_source=wl.data_source,
        definition_file=file.name if file else None,
        definition_file_sha256=file.sha256 if file else None,
        data_sha256=file.data_sha256 if file else None,
        reference_data=check.reference,
        data_pinned_by=check.pinned_by,
        data_check=check.summary,
        data_files_sha256=files,
    )


def model_ref(model: ModelFile, name: str, role: str, parameter_count: int | None) -> ModelRef:
    return ModelRef(
        name=name,
        file_name=model.path.name,
        format=model.format,  # type: ignore[arg-type]
        sha256=model.sha256,
        size_bytes=model.size_bytes,
        parameter_count=parameter_count,
        role=role,  # type: ignore[arg-type]
        files=[
            ModelFileRef(name=f.name, sha256=f.sha256, size_bytes=f.size_bytes) for f in model.files
        ],
    )


def engine_ref(info: EngineInfo, config: dict[str, object] | None) -> EngineRef:
    return EngineRef(
        name=info.name,
        version=info.version,
        device=info.device,
        precision=info.precision,
        settings=dict(info.settings),
        config=config,
    )


def meter_ref(meter: Meter, requested: str | None, fallback_reason: str | None) -> MeterRef:
    m = meter.info
    log = meter.external_log()
    return MeterRef(
        name=m.name,
        source=m.source,
        boundary=m.boundary,
        measurement=m.measurement.value,  # type: ignore[arg-type]
        sampling_period_s=m.sampling_period_s,
        uncertainty_rel=m.uncertainty_rel,
        details=dict(m.details),
        fallback_reason=fallback_reason,
        requested=requested,
        config=meter.config.model_dump(mode="json"),
        log_sha256=log[0] if log else None,
        log_size_bytes=log[1] if log else None,
    )


def claimed_assurance(meter: Meter, quality_by_caller: bool) -> str:
    """The assurance a run can claim from how its figures were obtained (docs/trust.md):
    estimated energy; self-reported when ecoscore did not measure a figure itself (an
    external power log, a quality given by the caller); else self-measured."""
    if meter.info.measurement is Measurement.ESTIMATED:
        return "estimated"
    if type(meter.config).reads_external_log or quality_by_caller:
        return "self-reported"
    return "self-measured"
