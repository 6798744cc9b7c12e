"""The run record: one validated JSON document per run, identified by the hash of its content.

A record crosses boundaries (files, submissions to a jury), so it is a pydantic model with a
``schema_version``; every quantity names its unit in its field name. ``record_id`` is the
SHA-256 of the canonical JSON of the record without ``record_id`` and ``signature``; it is
recomputed on every load, so a number edited by hand is caught.

Records are written atomically (temporary file, fsync, rename) as
``<out>/runs/<record_id>.json`` and never edited in place. A record is strict JSON: a
record holding a non-finite number (NaN, infinity) is not written (nothing could read it
back), and reading refuses what ``ecoscore.files.loads_strict`` refuses (NaN tokens,
duplicate keys, huge integers, deep nesting, lone surrogates) and any file that is not a
regular file of at most ``MAX_RECORD_BYTES``.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)

from ecoscore.errors import InputError, IntegrityFailure, OutputError
from ecoscore.files import loads_strict, read_untrusted, write_atomic

SCHEMA_VERSION = "2.0"
#: Versions this ecoscore reads. 1.0 records (made before engine and meter configs were
#: recorded) are read as they are: the fields added since are absent, and their record_id is
#: checked over the content they have.
READABLE_VERSIONS = ("1.0", SCHEMA_VERSION)
#: Records larger than this are refused on load (a run record is a few tens of kB).
MAX_RECORD_BYTES = 16 * 1024 * 1024


class RecordError(InputError):
    """A record file cannot be trusted or read; the message names the file and the problem."""


class RecordWriteError(OutputError):
    """A record could not be written (folder unwritable, disk full); nothing was replaced."""


class NonFiniteRecordError(RecordError):
    """A record about to be written holds a NaN or an infinity (strict JSON has neither):
    it is not written."""


class IntegrityError(IntegrityFailure, RecordError):
    """The record's content does not match its record_id (it was edited after the run)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: WorkloadRef fields that are left out of the record when they are None, so that records
#: made before they existed keep their content hash.
_WORKLOAD_FILE_FIELDS = ("definition_file", "definition_file_sha256", "data_sha256")


class WorkloadRef(_Model):
    name: str
    version: str
    family: str
    task: str
    definition_sha256: str
    eval_data_sha256: str
    eval_samples: int
    metric: str
    quality_gate: float  # a minimum, or a maximum for a lower-is-better metric (rmse)
    data_source: str = "bundled"
    #: A workload declared by a file (``--workload-file``): the file's name and the SHA-256
    #: of its bytes, and the SHA-256 of the whole data set read (both splits).
    definition_file: str | None = None
    definition_file_sha256: str | None = None
    data_sha256: str | None = None
    #: True: the evaluation data is the reference data (bundled, or matching published
    #: checksums); False: non-reference data, scored for information and never graded.
    #: None: a record made before the check existed.
    reference_data: bool | None = None
    #: Who pinned the checksums the data was checked against; "test-hook": a test's own
    #: pins (such a record can never certify).
    data_pinned_by: Literal["bundled", "definition", "published", "test-hook", "none"] | None = None
    data_check: str | None = None  # the check's outcome, in one line
    data_files_sha256: dict[str, str] = Field(default_factory=dict)  # the checked files


class ModelFileRef(_Model):
    """One file the model loads: the model file itself, or its external data."""

    name: str  # relative to the model file's folder
    sha256: str
    size_bytes: int


class ModelRef(_Model):
    name: str
    file_name: str
    format: Literal["onnx", "pt2"]
    #: The model's identity: the sha256 of the model file when it is the only file the model
    #: loads, else the sha256 of the list of every file it loads (``files``) with theirs.
    sha256: str
    size_bytes: int  # all files together
    parameter_count: int | None
    role: Literal["reference", "baseline", "user"]
    files: list[ModelFileRef] | None = None


class EngineRef(_Model):
    name: str
    version: str
    device: str  # cpu | cuda:0 | ...
    precision: str  # fp32 | fp16 | bf16 | int8
    settings: dict[str, Any] = Field(default_factory=dict)  # what the engine reports
    #: The engine's typed config, every default resolved: ``reproduce`` rebuilds from it.
    config: dict[str, Any] | None = None


class DeviceRef(_Model):
    kind: Literal["cpu", "gpu", "board"]
    name: str  # what the meter boundary belongs to, e.g. CPU model or GPU name
    cpu_model: str
    cpu_count_logical: int
    memory_bytes: int | None
    os: str
    machine: str  # uname -m
    details: dict[str, Any] = Field(default_factory=dict)


class MeterRef(_Model):
    name: str
    source: str
    boundary: str
    measurement: Literal["MEASURED", "ESTIMATED"]
    sampling_period_s: float | None
    uncertainty_rel: float
    details: dict[str, Any] = Field(default_factory=dict)
    fallback_reason: str | None = None  # why the meter asked for was not used
    requested: str | None = None  # the --meter spec asked for (auto, rapl, csv:PATH, ...)
    #: The meter's typed config (what was used): ``reproduce`` rebuilds from it.
    config: dict[str, Any] | None = None
    #: sha256 of the external power log the figures come from, as read after the last window
    #: (csv meter); the bundle carries the log so that a jury can re-integrate it.
    log_sha256: str | None = None
    log_size_bytes: int | None = None


class Window(_Model):
    """One measured window: energy at the meter's boundary over a run of queries.

    ``energy_j`` is gross. ``net_energy_j`` is incremental: above the ready idle (model
    loaded and warmed up, no queries), taken as ``ready_idle_w``, the ready idle interpolated
    in time between the idle windows before and after the measured windows.
    ``attributable_energy_j`` is above the device idle (before the engine touched the
    device). ``sensor_updates`` counts the sensor updates the meter observed in the window
    (changes of its counter or readings), not a figure computed from the window's length.
    """

    energy_j: float
    net_energy_j: float  # incremental: above the ready idle
    duration_s: float
    queries: int
    inferences: int  # samples processed (queries x batch size)
    sensor_updates: int | None
    valid: bool
    invalid_reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    ready_idle_w: float | None = None
    attributable_energy_j: float | None = None


class Stat(_Model):
    """Median of the repeats with a confidence interval and the coefficient of variation."""

    median: float
    ci_low: float
    ci_high: float
    ci_level: float
    cv: float
    n: int


class Latency(_Model):
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    count: int


class TuningTrial(_Model):
    """One engine setting tried during a scenario's warm-up (``runners.tuning``): what it
    was, what it measured, or why it could not be measured."""

    settings: dict[str, Any]
    queries: int = 0
    inferences: int = 0
    seconds: float = 0.0
    #: Median time of one query at the scenario's batch size.
    latency_p50_s: float | None = None
    #: Measured seconds over inferences (the inverse of the throughput).
    time_per_inference_s: float | None = None
    #: Gross energy per inference at the meter's boundary (MEASURED meters only).
    energy_per_inference_j: float | None = None
    #: Sensor updates the meter observed over the trial's slots (MEASURED meters only).
    sensor_updates: int | None = None
    #: Why the setting could not be measured (refused by the engine, time bound reached).
    failed: str | None = None


class Tuning(_Model):
    """How a scenario's engine settings were chosen (``runners.tuning``, docs/measuring.md).

    ``mode``: ``auto`` (the settings in ``tuned`` were tried during warm-up and the best by
    ``criterion`` was kept), ``user-chosen`` (given on the command line, in a campaign or by
    ``reproduce``: used as given, nothing tried) or ``engine-default`` (left to the engine,
    as a library caller may). ``origin`` says the same per setting."""

    mode: Literal["auto", "user-chosen", "engine-default"]
    origin: dict[str, Literal["auto", "user-chosen", "engine-default"]] = Field(
        default_factory=dict
    )
    chosen: dict[str, Any]
    #: ``energy_per_inference_j`` (a MEASURED meter whose sensor updated often enough in
    #: every trial), else ``latency_p50_s`` (single-stream) or ``time_per_inference_s``
    #: (offline); None when nothing was tried.
    criterion: Literal["energy_per_inference_j", "latency_p50_s", "time_per_inference_s"] | None = (
        None
    )
    criterion_reason: str | None = None
    trials: list[TuningTrial] = Field(default_factory=list)
    #: Trials per setting, interleaved (round-robin over the settings).
    rounds: int = 0
    #: Measuring time allowed (derived from the warm-up time) and wall time spent in all
    #: (measuring plus switching settings, e.g. new onnxruntime sessions).
    budget_s: float = 0.0
    spent_s: float = 0.0


class EmptyCall(_Model):
    """The engine's empty-call floor for one scenario: a do-nothing model (identity on the
    model's input, generated in the run for the engine's format) run through the same
    engine, settings, call path and batch size, timed in the run after the measured windows
    (runners/empty_call.py). What the engine path costs per call before the model does any
    work: a model's latency close to it measures mostly the engine.

    ``median_call_s``: each call timed alone (single stream, synchronised after each call
    like its queries); None for offline, timed like its windows: ``mean_call_s`` over
    back-to-back calls. ``energy_per_call_j`` is None unless measured (``energy_note`` says
    why not); ``unavailable_reason`` says why there is no figure at all."""

    model: str
    batch_size: int
    calls: int
    duration_s: float
    mean_call_s: float | None
    median_call_s: float | None = None
    energy_per_call_j: float | None = None
    energy_note: str | None = None
    unavailable_reason: str | None = None


class ScenarioResult(_Model):
    name: Literal["single_stream", "offline"]
    batch_size: int
    min_duration_s: float
    min_queries: int
    warmup_s: float
    windows: list[Window]
    valid: bool  # every window valid
    energy_per_inference_j: Stat | None  # gross, at the meter's boundary
    net_energy_per_inference_j: Stat | None  # incremental: above the ready idle
    power_w: Stat | None
    throughput_per_s: Stat
    latency: Latency | None = None  # single-stream only
    #: Above the device idle: gross minus device idle power x duration, per inference.
    attributable_energy_per_inference_j: Stat | None = None
    #: The smallest incremental energy per inference the meter can tell from zero (its
    #: energy over one sensor update at the ready idle power, per window's inferences):
    #: an incremental figure below it is not shown.
    incremental_resolution_j: float | None = None
    #: The engine settings this scenario ran with, when they differ by scenario (threads
    #: chosen per scenario); None: the record's engine config.
    engine_config: dict[str, Any] | None = None
    #: Every engine setting tried for this scenario and the one chosen (see runners.tuning).
    tuning: Tuning | None = None
    #: Why the batch size differs from the workload's (e.g. a model exported with a fixed
    #: batch of 1 runs the offline scenario at batch 1); None when it does not.
    batch_note: str | None = None
    #: The engine's empty-call floor at this scenario's batch (EmptyCall); None in records
    #: made before it was measured (left out of the record, so their content hash holds).
    empty_call: EmptyCall | None = None


class IdleBaseline(_Model):
    power_w: float
    energy_j: float
    duration_s: float
    valid: bool
    invalid_reason: str | None = None
    sensor_updates: int | None = None
    #: How it was taken: for the device idle, whether the power settled, over which spans,
    #: and the GPU processes seen; for the idle after the windows, its drift.
    details: dict[str, Any] = Field(default_factory=dict)


class IdleLevels(_Model):
    """The two idle levels and the drift (docs/measuring.md, "Idle levels").

    ``device``: before the engine touched the device (for a GPU: no context of this process,
    and NVML's list of other compute processes); ``ready``: model loaded and warmed up,
    before the measured windows (also the record's ``idle``); ``ready_after``: the same,
    after the measured windows."""

    device: IdleBaseline | None = None
    ready: IdleBaseline | None = None
    ready_after: IdleBaseline | None = None


class BatchConsistency(_Model):
    """The outputs at the offline batch size against those at batch 1 (the graded quality),
    over the whole evaluation set: a model may not answer differently when batched."""

    offline_batch_size: int
    samples: int
    disagreeing: int  # samples whose outputs differ beyond the tolerance
    #: None when the outputs cannot be compared (other shapes, or non-finite values).
    max_abs_diff: float | None
    tolerance: str
    consistent: bool


class Quality(_Model):
    metric: str
    value: float
    gate: float
    passed: bool
    samples: int
    batch_size: int  # the batch the quality was computed at: the graded scenario's (1)
    #: "ecoscore": computed by ecoscore with the timed engine; "caller": given to ecoscore
    #: (pytest plugin), so only self-reported.
    computed_by: Literal["ecoscore", "caller"] | None = None
    batch_consistency: BatchConsistency | None = None


class RunSettings(_Model):
    quick: bool
    repeats: int
    seed: int
    #: The time limits the run was made under (seconds): the quality pass, and each
    #: warm-up and window. Absent from records made before limits existed.
    quality_time_limit_s: float | None = None
    window_time_limit_s: float | None = None


class Provenance(_Model):
    ecoscore_version: str
    command_line: list[str]
    started_utc: str
    finished_utc: str
    python: str
    os: str
    packages: dict[str, str]
    seeds: dict[str, int]
    notes: str | None = None
    #: ECOSCORE_SYSFS_ROOT when it was set: every /sys and /proc read (the sensors included)
    #: went to that tree instead of this machine's. Such a run never certifies.
    sysfs_root: str | None = None


class PairedScenario(_Model):
    """One scenario of a paired run: the reference model's windows, measured interleaved
    with the model's (model window i, then reference window i, then model window i + 1),
    and the model factor of the scenario."""

    name: Literal["single_stream", "offline"]
    #: The reference model's scenario: its windows and their summaries, under the same
    #: idle levels as the model's (the ready idle interpolated over the interleaved block).
    reference: ScenarioResult
    #: ``E_model / E_reference``: over the pairs (model window i, reference window i) whose
    #: windows are both valid with a positive energy, the ratio of their gross energies per
    #: inference; the median of those ratios with its order-statistic confidence interval
    #: (``ecoscore.runners.stats.median_stat``). None when no pair qualifies.
    factor: Stat | None


class PairedRun(_Model):
    """A paired run (``ecoscore run --paired``): the workload's reference model measured on
    the same device, in the same session, by a second engine of the same config, its
    windows interleaved with the model's (docs/measuring.md, "Paired runs")."""

    #: How the windows were taken and paired: alternately, the model's first, pair i being
    #: the model's window i and the reference's window i.
    method: Literal["interleaved-pairs"] = "interleaved-pairs"
    #: The energy the factor compares: gross energy per inference at the meter's boundary.
    energy: Literal["gross"] = "gross"
    #: The meter's: a factor of two ESTIMATED energies is ESTIMATED.
    measurement: Literal["MEASURED", "ESTIMATED"]
    reference: ModelRef
    reference_quality: Quality
    #: What the reference's engine reports (its model interface among them).
    reference_engine_settings: dict[str, Any] = Field(default_factory=dict)
    scenarios: list[PairedScenario]

    def scenario(self, name: str) -> PairedScenario | None:
        return next((s for s in self.scenarios if s.name == name), None)


class Signature(_Model):
    algorithm: Literal["ed25519"]
    public_key_b64: str
    key_id: str
    signature_b64: str


class RunRecord(_Model):
    schema_version: Literal["1.0", "2.0"] = SCHEMA_VERSION
    record_id: str = ""
    record_type: Literal["run", "replication"] = "run"
    replicates: str | None = None  # record_id of the original for a replication
    workload: WorkloadRef
    model: ModelRef
    engine: EngineRef
    device: DeviceRef
    meter: MeterRef
    idle: IdleBaseline  # the ready idle before the windows (also idle_levels.ready)
    idle_levels: IdleLevels | None = None
    scenarios: list[ScenarioResult]
    quality: Quality
    #: The workload's reference model measured beside the model (``--paired``); absent
    #: from the record otherwise, so that records made without it keep their record_id.
    paired: PairedRun | None = None
    run: RunSettings
    provenance: Provenance
    #: The assurance the run claims when it is made (docs/trust.md): "self-measured" (ecoscore
    #: read a sensor itself), "self-reported" (figures ecoscore did not measure itself: an
    #: external power log, a caller's quality) or "estimated". verify derives the level from
    #: the record's content and never takes this field's word for it.
    assurance: Literal["self-measured", "self-reported", "estimated"] | None = None
    signature: Signature | None = None

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        """The record as a dict. Fields added after records existed are left out when they
        are None, so that an older record keeps the content (and record_id) it had: the
        ``paired`` section, a scenario's ``empty_call``, the workload-file fields and the
        run's time limits. (Wrap serializers on the sections would do the same, but
        pydantic then turns NaN into None in JSON mode, and a non-finite number must fail
        loudly: ``record_json``.)"""
        doc = super().model_dump(**kwargs)
        if doc.get("paired", "") is None:
            del doc["paired"]
        _drop_none(doc.get("workload"), _WORKLOAD_FILE_FIELDS)
        _drop_none(doc.get("run"), ("quality_time_limit_s", "window_time_limit_s"))
        # the same for a scenario's empty-call floor, in records made before it existed
        scenarios = list(doc.get("scenarios") or [])
        for p in (doc.get("paired") or {}).get("scenarios") or []:
            if isinstance(p, dict) and isinstance(p.get("reference"), dict):
                scenarios.append(p["reference"])
        for s in scenarios:
            if isinstance(s, dict) and s.get("empty_call", "") is None:
                del s["empty_call"]
        return doc

    def content_sha256(self) -> str:
        # a 1.0 record is hashed over the fields it has, as it was written
        legacy = self.schema_version == "1.0"
        return content_hash(self.model_dump(mode="json", exclude_unset=legacy))

    def with_id(self) -> RunRecord:
        return self.model_copy(update={"record_id": self.content_sha256()})

    def scenario(self, name: str) -> ScenarioResult | None:
        return next((s for s in self.scenarios if s.name == name), None)


def canonical_json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(doc: dict[str, Any]) -> str:
    """SHA-256 of the canonical content: the document without record_id and signature."""
    body = {k: v for k, v in doc.items() if k not in ("record_id", "signature")}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def save_record(record: RunRecord, out_dir: Path) -> Path:
    """Write a record as ``<out_dir>/runs/<record_id>.json`` atomically; return the path."""
    if not record.record_id:
        record = record.with_id()
    path = Path(out_dir) / "runs" / f"{record.record_id}.json"
    data = record_json(record)
    try:
        write_atomic(path, data + b"\n")
    except OSError as e:
        raise RecordWriteError(
            f"cannot write the record to {path}: {e.strerror or e}; nothing was written "
            "and no earlier record was touched"
        ) from None
    return path


def non_finite_field(doc: Any, where: str = "") -> str | None:
    """The dotted path of the first NaN or infinity in ``doc`` (None: every number is finite)."""
    if isinstance(doc, float):
        return None if math.isfinite(doc) else (where or "(top level)")
    if isinstance(doc, dict):
        items = list(doc.items())
    elif isinstance(doc, list):
        items = list(enumerate(doc))
    else:
        return None
    for key, value in items:
        found = non_finite_field(value, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def record_json(record: RunRecord) -> bytes:
    """The file form of a record: strict JSON (``NonFiniteRecordError`` for NaN or inf)."""
    doc = record.model_dump(mode="json")
    try:
        text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise NonFiniteRecordError(
            f"the record holds a non-finite number (NaN or infinity) at "
            f"{non_finite_field(doc)}; it was not written"
        ) from None
    try:
        return text.encode() + b"\n"
    except UnicodeEncodeError as e:
        raise RecordError(
            f"the record holds a lone surrogate ({e.reason}); no record was written"
        ) from None


def parse_record(doc: Any, source: str) -> RunRecord:
    """Validate a parsed JSON document as a run record and check its integrity."""
    if not isinstance(doc, dict):
        raise RecordError(f"{source}: not a run record (top level is not a JSON object)")
    version = doc.get("schema_version")
    if version is None:
        raise RecordError(f"{source}: missing field 'schema_version'")
    if version not in READABLE_VERSIONS:
        raise RecordError(
            f"{source}: schema_version {version!r} is not supported "
            f"(this ecoscore reads {', '.join(map(repr, READABLE_VERSIONS))})"
        )
    try:
        record = RunRecord.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RecordError(
            f"{source}: invalid record at '{where}': {first['msg']} ({e.error_count()} problem(s))"
        ) from None
    expected = content_hash(doc)
    if record.record_id != expected:
        raise IntegrityError(
            f"{source}: integrity check failed: content hash {expected[:12]} does not match "
            f"record_id {record.record_id[:12] or '(empty)'}; the record was edited after the run"
        )
    return record


def read_record_doc(path: Path) -> Any:
    """A record file's JSON document, read safely and strictly (not yet validated)."""
    data = read_untrusted(Path(path), MAX_RECORD_BYTES, RecordError, "run record")
    return record_doc(data, str(path))


def record_doc(data: bytes, source: str) -> Any:
    """Strict JSON of a record's bytes (a file, or a bundle member), at most
    ``MAX_RECORD_BYTES``."""
    if len(data) > MAX_RECORD_BYTES:
        raise RecordError(f"{source}: {len(data)} bytes is larger than a run record can be")
    return loads_strict(data, source, RecordError)


def load_record(path: Path) -> RunRecord:
    """Read, validate and integrity-check a record file."""
    return parse_record(read_record_doc(path), str(path))


def json_schema() -> dict[str, Any]:
    schema = RunRecord.model_json_schema()
    schema["$id"] = f"https://ecoscore.invalid/schema/run-record-{SCHEMA_VERSION}.json"
    schema["title"] = f"ecoscore run record, schema {SCHEMA_VERSION}"
    return schema


def _drop_none(section: object, keys: tuple[str, ...]) -> None:
    """Remove ``keys`` whose value is None from a dumped section (in place)."""
    if isinstance(section, dict):
        for key in keys:
            if key in section and section[key] is None:
                del section[key]
