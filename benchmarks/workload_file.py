"""Workload files: a workload declared in TOML, without Python.

A file declares the workload's name and version, its task (classification, anomaly or
regression), the data adapter and split, the preprocessing (a fixed vocabulary,
:mod:`ecoscore.benchmarks.preprocess`), what the model takes and gives, the metric and its
gate, and scenario defaults. An example, ``benchmarks/examples/defect_scratch/workload.toml``::

    schema_version = "1"

    [workload]
    name = "defect-scratch"
    version = "1.0"
    task = "classification"
    description = "..."

    [data]
    adapter = "image-folder"     # image-folder | csv | wav-folder | npz
    colour = "grey"

    [split]
    rule = "given"               # given (by the data) | seeded (eval_fraction, seed)

    [[preprocess]]
    op = "scale"
    factor = 0.00392156862745098

    [[preprocess]]
    op = "layout"
    to = "NCHW"

    [input]
    name = "input"
    dtype = "float32"
    shape = [1, 32, 32]          # one sample, without the batch dimension

    [output]
    classes = ["ok", "scratch"]  # classification: scores in this order

    [metric]
    name = "macro_f1"            # accuracy | macro_f1 | roc_auc | rmse
    gate = 0.9
    gate_rationale = "..."

    [scenarios]                  # optional: ScenarioDefaults fields
    offline_batch_size = 64

Rules enforced here:

- every key is checked (an unknown key is an error), and :func:`check_file` reports every
  problem it finds, one line each, naming the key (``metric.gate: ...``);
- the task fixes the metrics it can use (classification: accuracy, macro_f1; anomaly:
  roc_auc; regression: rmse) and the adapters that can serve it;
- a classification declares its classes: their order is the order of the model's scores;
- the preprocessing must give what ``[input]`` declares: its shape is checked without the
  data when the file tells it (resized images, CSV features), and on the data always. The
  one implicit step is a final cast between float types (float64 -> float32);
- a gate is a minimum for metrics where higher is better, and a maximum for RMSE
  (:func:`ecoscore.benchmarks.metrics.passes_gate`);
- the definition's SHA-256 is that of the validated content (comments and formatting do not
  change it), and the record also keeps the SHA-256 of the file's bytes;
- a data folder or file is read once, when the workload is made, by its adapter
  (:mod:`ecoscore.benchmarks.adapters`), and its checksums go in the record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ecoscore.benchmarks.adapters import (
    Context,
    RawData,
    SplitRule,
    check_splits,
    csv_table,
    image_folder,
    npz_arrays,
    wav_clips,
)
from ecoscore.benchmarks.base import (
    DefinitionFile,
    ModelInterface,
    ScenarioDefaults,
    Split,
    TensorSpec,
    Workload,
    WorkloadInfo,
    default_output_text,
)
from ecoscore.benchmarks.errors import DataFormatError, WorkloadError
from ecoscore.benchmarks.metrics import LOWER_IS_BETTER
from ecoscore.benchmarks.preprocess import Batch, Stage, Step, StepError, check_steps, run_steps
from ecoscore.benchmarks.reference_data import DataCheck
from ecoscore.files import file_sha256, read_toml

if TYPE_CHECKING:
    from ecoscore.record import RunRecord

SCHEMA_VERSION = "1"
#: The adapter modules, by the name a file gives in ``data.adapter``.
ADAPTERS = {
    "image-folder": image_folder,
    "csv": csv_table,
    "wav-folder": wav_clips,
    "npz": npz_arrays,
}
#: Metrics each task may use.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "macro_f1"),
    "anomaly": ("roc_auc",),
    "regression": ("rmse",),
}
_FAMILY_OF_KIND = {"images": "vision", "audio": "audio", "features": "tabular"}

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Prose = Annotated[str, StringConstraints(min_length=1)]
PositiveInt = Annotated[int, Field(gt=0, strict=True)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class WorkloadFileError(WorkloadError):
    """A workload file is invalid; the message names the file and the key."""


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkloadHead(_Table):
    name: Name
    version: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,31}$")]
    task: Literal["classification", "anomaly", "regression"]
    description: Prose
    family: Literal["vision", "nlp", "anomaly", "audio", "tabular"] | None = None


DataConfig = Annotated[
    image_folder.ImageFolderConfig
    | csv_table.CsvConfig
    | wav_clips.WavFolderConfig
    | npz_arrays.NpzConfig,
    Field(discriminator="adapter"),
]


class InputSpec(_Table):
    name: Annotated[str, StringConstraints(min_length=1)] = "input"
    dtype: Literal["float32", "float16", "uint8", "int8", "int64"] = "float32"
    shape: list[PositiveInt] = Field(min_length=1)


class OutputSpec(_Table):
    classes: list[Annotated[str, StringConstraints(min_length=1)]] | None = None


class MetricSpec(_Table):
    name: Literal["accuracy", "macro_f1", "roc_auc", "rmse"]
    gate: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    gate_rationale: Prose


class ScenarioSpec(_Table):
    single_stream_min_duration_s: PositiveFloat | None = None
    single_stream_min_queries: PositiveInt | None = None
    offline_batch_size: PositiveInt | None = None
    offline_min_duration_s: PositiveFloat | None = None
    offline_min_queries: PositiveInt | None = None
    warmup_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    idle_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    repeats: PositiveInt | None = None

    def defaults(self) -> ScenarioDefaults:
        given = {k: v for k, v in self.model_dump().items() if v is not None}
        return ScenarioDefaults(**given)


class WorkloadFile(_Table):
    """The whole file, validated key by key."""

    schema_version: Literal["1"]
    workload: WorkloadHead
    data: DataConfig
    split: SplitRule
    preprocess: list[Step] = Field(default_factory=list)
    input: InputSpec
    output: OutputSpec = Field(default_factory=OutputSpec)
    metric: MetricSpec
    scenarios: ScenarioSpec = Field(default_factory=ScenarioSpec)

    @property
    def classes(self) -> tuple[str, ...]:
        if self.workload.task == "anomaly":
            return ("normal", "anomalous")
        return tuple(self.output.classes or ())

    def definition_sha256(self) -> str:
        """SHA-256 of the validated content (canonical JSON): comments, key order and
        formatting do not change it."""
        doc = self.model_dump(mode="json")
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def context(self, where: str) -> Context:
        return Context(self.workload.task, self.classes, self.split, where)


# --- checking a file ---------------------------------------------------------------------


def _key(loc: tuple[Any, ...], doc: Any) -> str:
    """A pydantic location as the file's key: ``preprocess[2].size``; the discriminator tag
    pydantic inserts for a union (``preprocess.2.resize.size``) is dropped."""
    out: list[str] = []
    node = doc
    for part in loc:
        if isinstance(part, int):
            out[-1:] = [f"{out[-1]}[{part}]"] if out else [f"[{part}]"]
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        if isinstance(node, dict) and part not in node and part in _tags(node):
            continue  # the union's tag (an op, adapter or rule name), not a key of the file
        out.append(str(part))
        node = node.get(part) if isinstance(node, dict) else None
    return ".".join(out) or "(top level)"


def _tags(node: dict[str, Any]) -> set[Any]:
    return {node.get("op"), node.get("adapter"), node.get("rule")} - {None}


def _pydantic_problems(e: ValidationError, doc: Any) -> list[str]:
    from ecoscore.files import _message

    return [f"{_key(tuple(err['loc']), doc)}: {_message(err)}" for err in e.errors()]


def semantic_problems(wf: WorkloadFile) -> list[str]:
    """What the keys say together: task, adapter, metric, classes, gate, preprocessing and
    the declared input."""
    problems: list[str] = []
    task = wf.workload.task
    adapter = ADAPTERS[wf.data.adapter]
    if task not in adapter.TASKS:
        problems.append(
            f"workload.task: the {wf.data.adapter} adapter serves {', '.join(adapter.TASKS)}, "
            f"not {task}"
        )
    if wf.metric.name not in TASK_METRICS[task]:
        problems.append(
            f"metric.name: {wf.metric.name} does not score a {task} task (use "
            f"{' or '.join(TASK_METRICS[task])})"
        )
    if wf.metric.name not in LOWER_IS_BETTER and wf.metric.gate > 1:
        problems.append(f"metric.gate: {wf.metric.name} runs from 0 to 1; {wf.metric.gate:g} > 1")
    classes = wf.output.classes
    if task == "classification":
        if not classes or len(classes) < 2:
            problems.append(
                "output.classes: a classification lists its classes (at least 2), in the "
                "order of the model's scores"
            )
        elif len(set(classes)) != len(classes):
            problems.append("output.classes: a class is listed twice")
    elif classes is not None:
        problems.append(f"output.classes: only a classification lists classes (task is {task})")
    stage, step_problems = check_steps(list(wf.preprocess), wf.data.start_stage())
    problems += step_problems
    if not step_problems:
        problems += _input_problems(wf, stage, None)
    return problems


def _output_dtype(wf: WorkloadFile, stage: Stage) -> str | None:
    """The dtype the steps give (None: whatever the data holds)."""
    for step in reversed(wf.preprocess):
        if step.op == "dtype":
            return step.to
        if step.op in ("scale", "normalise", "log-mel", "mfcc", "framing"):
            return "float32"
    return "uint8" if stage.kind == "images" else None


def _input_problems(wf: WorkloadFile, stage: Stage, data_dtype: str | None) -> list[str]:
    problems = []
    declared = tuple(wf.input.shape)
    if not stage.rank_known:
        pass  # the data will tell (FileWorkload checks it)
    elif len(stage.shape) != len(declared) or any(
        got is not None and got != want for got, want in zip(stage.shape, declared, strict=False)
    ):
        shown = "(" + ", ".join("?" if d is None else str(d) for d in stage.shape) + ")"
        problems.append(
            f"input.shape: the preprocessing gives samples of shape {shown}, the file "
            f"declares {list(declared)}"
        )
    dtype = _output_dtype(wf, stage) or data_dtype
    if dtype is not None and dtype != wf.input.dtype and not _float_cast(dtype, wf.input.dtype):
        problems.append(
            f"input.dtype: the preprocessing gives {dtype}, the file declares "
            f"{wf.input.dtype}; add a 'dtype' step (or scale the data first)"
        )
    return problems


def _float_cast(have: str, want: str) -> bool:
    return have.startswith("float") and want.startswith("float")


def parse_workload_file(path: Path) -> tuple[WorkloadFile | None, list[str]]:
    """The validated file and every problem found in it, one line each (no data read)."""
    path = Path(path)
    try:
        doc = read_toml(path, WorkloadFileError, "workload file")
    except WorkloadFileError as e:
        return None, [str(e).removeprefix(f"{path}: ")]
    return parse_workload_doc(doc)


def parse_workload_bytes(data: bytes) -> tuple[WorkloadFile | None, list[str]]:
    """As :func:`parse_workload_file`, for a file's bytes (e.g. a bundle member)."""
    import tomllib

    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        return None, [f"malformed TOML: {e}"]
    return parse_workload_doc(doc)


def parse_workload_doc(doc: Any) -> tuple[WorkloadFile | None, list[str]]:
    try:
        wf = WorkloadFile.model_validate(doc)
    except ValidationError as e:
        return None, _pydantic_problems(e, doc)
    return wf, semantic_problems(wf)


def load_workload_file(path: Path) -> WorkloadFile:
    """The validated file; the first problem raises WorkloadFileError naming file and key."""
    wf, problems = parse_workload_file(path)
    if problems or wf is None:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise WorkloadFileError(f"{path}: {problems[0]}{more}")
    return wf


# --- the workload a file declares --------------------------------------------------------


@dataclass(frozen=True)
class FileWorkloadInfo(WorkloadInfo):
    """A file-declared workload's info: its definition is the file's validated content."""

    file_definition_sha256: str = field(default="", kw_only=True)

    def definition_sha256(self) -> str:
        return self.file_definition_sha256


def _family(wf: WorkloadFile) -> str:
    if wf.workload.family is not None:
        return wf.workload.family
    if wf.workload.task == "anomaly":
        return "anomaly"
    if isinstance(wf.data, csv_table.CsvConfig) and wf.data.text_column is not None:
        return "nlp"
    return _FAMILY_OF_KIND.get(wf.data.start_stage().kind, "tabular")


def info_of(wf: WorkloadFile) -> FileWorkloadInfo:
    """The WorkloadInfo a file declares (nothing read from data)."""
    task = wf.workload.task
    return FileWorkloadInfo(
        name=wf.workload.name,
        version=wf.workload.version,
        family=_family(wf),  # type: ignore[arg-type]
        task=task,
        description=" ".join(wf.workload.description.split()),
        metric=wf.metric.name,
        quality_gate=wf.metric.gate,
        gate_rationale=" ".join(wf.metric.gate_rationale.split()),
        input=TensorSpec(wf.input.name, wf.input.dtype, (None, *wf.input.shape)),
        num_classes=len(wf.classes) if task == "classification" else None,
        class_names=wf.classes,
        eval_sha256=wf.data.eval_sha256 or "",
        scenarios=wf.scenarios.defaults(),
        seed=getattr(wf.split, "seed", 0),
        file_definition_sha256=wf.definition_sha256(),
    )


def interface_of(wf: WorkloadFile) -> ModelInterface:
    steps = tuple(s.describe() for s in wf.preprocess)
    layout = next((s.to for s in wf.preprocess if s.op == "layout"), None)
    kind = wf.data.start_stage().kind
    if layout == "flat" or (layout is None and kind == "features"):
        layout_text = "features (batch, values)"
    elif layout is not None:
        layout_text = {"NCHW": "NCHW", "NHWC": "NHWC"}[layout]
    else:
        layout_text = f"as the data holds it ({kind}), batch first"
    return ModelInterface(
        layout=layout_text,
        preprocessing=steps or ("none: the model takes the data as the adapter reads it",),
        output=default_output_text(info_of(wf)),
    )


class FileWorkload(Workload):
    """A workload declared by a file, over the data in ``data`` (read once, here)."""

    def __init__(self, path: Path, data: Path) -> None:
        self.path = Path(path)
        self.data_path = Path(data)
        self.spec = load_workload_file(self.path)
        self.file_sha256 = file_sha256(self.path)
        self.info = info_of(self.spec)
        if not self.data_path.exists():
            raise DataFormatError(f"{self.data_path}: no such file or folder (--data)")
        adapter = ADAPTERS[self.spec.data.adapter]
        ctx = self.spec.context(str(self.path))
        self.raw: RawData = adapter.read(self.spec.data, self.data_path, ctx)
        check_splits(self.raw, ctx, str(self.data_path))
        stage, problems = check_steps(list(self.spec.preprocess), self.raw.stage)
        raw_dtype = (
            str(np.asarray(self.raw.train.x[:1]).dtype)
            if isinstance(self.raw.train.x, np.ndarray)
            else None
        )
        problems += _input_problems(self.spec, stage, raw_dtype)
        if problems:
            raise DataFormatError(
                f"{self.path} with {self.data_path}: {problems[0]}"
                + (f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else "")
            )
        self._prepared: dict[str, Split] = {}

    def _prepare(self, name: str) -> Split:
        if name not in self._prepared:
            raw = self.raw.train if name == "train" else self.raw.eval
            try:
                x = run_steps(list(self.spec.preprocess), Batch(self.raw.stage, raw.x))
            except StepError as e:
                raise DataFormatError(f"{self.path}: {e}") from None
            want = self.info.input
            if x.dtype != want.dtype:
                if not _float_cast(str(x.dtype), want.dtype):
                    raise DataFormatError(
                        f"{self.path}: input.dtype: the preprocessing gives {x.dtype}, the "
                        f"file declares {want.dtype}"
                    )
                x = x.astype(want.dtype)
            if tuple(x.shape[1:]) != tuple(want.shape[1:]):
                raise DataFormatError(
                    f"{self.path}: input.shape: the preprocessing gives {list(x.shape[1:])}, "
                    f"the file declares {list(want.shape[1:])}"
                )
            self._prepared[name] = Split(x=np.ascontiguousarray(x), y=raw.y)
        return self._prepared[name]

    def train_split(self) -> Split:
        return self._prepare("train")

    def _eval_split(self) -> Split:
        return self._prepare("eval")

    def eval_data_sha256(self) -> str:
        return self.raw.eval_sha256

    @property
    def data_source(self) -> str:
        return f"user:{self.data_path}"

    @property
    def definition_file(self) -> DefinitionFile:
        return DefinitionFile(self.path.name, self.file_sha256, self.raw.data_sha256)

    def interface(self) -> ModelInterface:
        return interface_of(self.spec)

    def data_check(self) -> DataCheck:
        """Reference data when the workload file pins its evaluation data's sha256 (the data
        read was checked against it by ``eval_split``); else non-reference data."""
        if self.info.eval_sha256:
            return DataCheck(
                True,
                "definition",
                f"evaluation data checked against the sha256 {self.path.name} pins",
            )
        return DataCheck(
            False,
            "none",
            f"{self.path.name} pins no sha256 for its evaluation data: non-reference data, "
            "scored for information only",
        )


# --- a record against a file -------------------------------------------------------------


def check_record_against_file(record: RunRecord, path: Path) -> list[str]:
    """What does not match between a record and the workload file it claims to have run:
    the file's bytes (SHA-256), its name, version, definition (SHA-256 of the validated
    content), task, metric, gate and pinned evaluation data. An empty list: the record ran
    this file."""
    path = Path(path)
    if record.workload.definition_file_sha256 is None:
        return check_record_against_bytes(record, b"", str(path))
    try:
        data = path.read_bytes()
    except OSError as e:
        return [f"{path}: cannot read the workload file: {e.strerror or e}"]
    return check_record_against_bytes(record, data, str(path))


def check_record_against_bytes(record: RunRecord, data: bytes, source: str) -> list[str]:
    """:func:`check_record_against_file` for a file's bytes; ``source`` names it."""
    w = record.workload
    if w.definition_file_sha256 is None:
        return [
            f"record {record.record_id[:12]} was not made from a workload file "
            f"({w.name} {w.version} is defined in Python)"
        ]
    problems: list[str] = []
    sha = hashlib.sha256(data).hexdigest()
    if sha != w.definition_file_sha256:
        problems.append(
            f"{source}: file sha256 {sha[:12]} differs from the record's "
            f"{w.definition_file_sha256[:12]} (not the file the run used)"
        )
    wf, file_problems = parse_workload_bytes(data)
    if wf is None or file_problems:
        return problems + [f"{source}: {p}" for p in file_problems]
    info = info_of(wf)
    for what, have, want in (
        ("name", w.name, info.name),
        ("version", w.version, info.version),
        ("definition_sha256", w.definition_sha256, info.definition_sha256()),
        ("task", w.task, info.task),
        ("metric", w.metric, info.metric),
        ("quality_gate", w.quality_gate, info.quality_gate),
    ):
        if have != want:
            problems.append(f"workload.{what}: the record says {have!r}, {source} gives {want!r}")
    if info.eval_sha256 and w.eval_data_sha256 != info.eval_sha256:
        problems.append(
            f"workload.eval_data_sha256: the record's evaluation data "
            f"{w.eval_data_sha256[:12]} is not the data {source} pins ({info.eval_sha256[:12]})"
        )
    return problems


def looks_like_workload_file(name: str) -> bool:
    """A NAME argument that is a workload file rather than a bundled workload's name."""
    return name.lower().endswith(".toml")


def definitions_of(files: Iterable[bytes]) -> dict[str, FileWorkloadInfo]:
    """The workloads some workload files declare, by the sha256 of each file's bytes (what
    a record run from a file names). A file that does not validate declares nothing: the
    record then cannot be checked against it, and says so."""
    out: dict[str, FileWorkloadInfo] = {}
    for data in files:
        wf, problems = parse_workload_bytes(data)
        if wf is not None and not problems:
            out[hashlib.sha256(data).hexdigest()] = info_of(wf)
    return out
