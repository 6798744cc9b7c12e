"""What a workload is: a versioned definition of data, preprocessing, I/O spec, metric and gate.

A workload holds no engine code. Engines receive the numpy arrays a workload prepares and
return the model's primary output; the workload turns outputs into a quality figure.

Output conventions (what every model for a workload must produce):
- task "classification": an output of shape (batch, num_classes): logits or probabilities.
- task "anomaly": an output of shape (batch,) or (batch, 1): an anomaly score, higher means
  more anomalous (an autoencoder computes its reconstruction error inside the graph, unless
  the workload says it accepts reconstructions: ``Workload.output_fits``).
- task "regression": an output of shape (batch,) or (batch, 1): the predicted value.
A model with several outputs names the one to read (``ecoscore run --output NAME``), unless
exactly one of them follows the convention.

What a third party needs to build a model (input name, shape, dtype, layout, preprocessing,
classes, output, metric and gate) is given by :meth:`Workload.interface` and written out by
:mod:`ecoscore.benchmarks.interface`.

Data: ``Workload.data_check`` says whether the evaluation data is the reference data
(bundled and checked against the definition, or matching published checksums:
``ecoscore.benchmarks.reference_data``); a run on other data is recorded and scored for
information, never graded.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import ClassVar, Literal

import numpy as np

from ecoscore.benchmarks.errors import DataChecksumError
from ecoscore.benchmarks.metrics import compute_metric
from ecoscore.benchmarks.reference_data import DataCheck

Task = Literal["classification", "anomaly", "regression"]
Metric = Literal["accuracy", "macro_f1", "roc_auc", "rmse"]
Family = Literal["vision", "nlp", "anomaly", "audio", "tabular"]
Layout = Literal["NCHW", "NHWC"]
#: Output dtypes that can hold scores (quantized ones are dequantized by the runner).
SCORE_DTYPES = ("float32", "float16", "float64", "int8", "uint8")


@dataclass(frozen=True)
class TensorSpec:
    """One model input: its name, dtype and shape (None for the batch dimension).

    ``layout`` names the axes of a 4-D image input as the workload prepares it; a model
    that takes the other layout gets its inputs transposed once, before timing. None: the
    model must take the shape as it is.
    """

    name: str
    dtype: Literal["float32", "float16", "int64", "uint8", "int8"]
    shape: tuple[int | None, ...]
    layout: Layout | None = None


@dataclass(frozen=True)
class ScenarioDefaults:
    """Default measurement settings for a workload (docs/measuring.md).

    A measured window ends on time: it lasts ``min_duration_s``, lengthened to span the
    meter's minimum number of sensor updates; ``min_queries`` is only a floor (a query that
    outlasts the window still completes), never what ends a window, so the length of a full
    run does not grow with the speed of the model. Warm-up runs before it and is excluded.
    """

    single_stream_min_duration_s: float = 10.0
    single_stream_min_queries: int = 1
    offline_batch_size: int = 64
    offline_min_duration_s: float = 10.0
    offline_min_queries: int = 1
    warmup_s: float = 2.0
    idle_s: float = 5.0
    repeats: int = 5
    #: The device idle is measured in spans of this length until two agree within 1 %
    #: (the power has settled), for at most ``device_idle_max_s``.
    device_idle_span_s: float = 10.0
    device_idle_max_s: float = 60.0


#: Settings used with ``--quick``: smoke runs, marked as such in the record.
QUICK = ScenarioDefaults(
    single_stream_min_duration_s=0.5,
    single_stream_min_queries=1,
    offline_min_duration_s=0.5,
    offline_min_queries=1,
    warmup_s=0.2,
    idle_s=0.5,
    repeats=3,
)


@dataclass(frozen=True)
class Split:
    """A data split: inputs already preprocessed to the model's input spec, and labels.

    For anomaly workloads, labels are 0 (normal) and 1 (anomalous).
    """

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])


def array_sha256(*arrays: np.ndarray) -> str:
    """A checksum of arrays that depends on dtype, shape and bytes (platform independent)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class WorkloadInfo:
    """The declarative part of a workload: everything a record needs to name it."""

    name: str
    version: str
    family: Family
    task: Task
    description: str
    metric: Metric
    quality_gate: float
    gate_rationale: str
    input: TensorSpec
    num_classes: int | None
    class_names: tuple[str, ...] = ()
    eval_sha256: str = ""
    scenarios: ScenarioDefaults = field(default_factory=ScenarioDefaults)
    seed: int = 0

    def definition_sha256(self) -> str:
        """Hash of the workload definition (changes whenever the definition changes);
        computed once per definition (verify and compare ask for it for every record)."""
        known = self.__dict__.get("_definition_sha256")
        if known is None:
            doc = asdict(self)
            if doc["input"]["layout"] is None:  # definitions made before layouts hash as they did
                del doc["input"]["layout"]
            known = hashlib.sha256(
                json.dumps(doc, sort_keys=True, default=str).encode()
            ).hexdigest()
            object.__setattr__(self, "_definition_sha256", known)  # frozen: set once, by hand
        return known


@dataclass(frozen=True)
class ModelInterface:
    """What a model for a workload takes and gives, in words a third party can act on.

    ``layout`` names the input's axes (``NCHW``, ``NHWC``, ``features``...);
    ``preprocessing`` lists, in order, what turns the raw data into the input;
    ``output`` says what the model's one output must hold.
    """

    layout: str
    preprocessing: tuple[str, ...]
    output: str


@dataclass(frozen=True)
class DefinitionFile:
    """A workload declared by a file: the file's name and SHA-256 (its bytes), and the
    SHA-256 of the whole data set it read (every file of both splits)."""

    name: str
    sha256: str
    data_sha256: str


def default_output_text(info: WorkloadInfo) -> str:
    """The output convention of the workload's task, in words."""
    if info.task == "classification":
        names = ", ".join(info.class_names) if info.class_names else "the classes"
        return (
            f"one float32 output of shape (batch, {info.num_classes}): a score per class "
            f"(logits or probabilities), in this order: {names}"
        )
    if info.task == "anomaly":
        return (
            "one float32 output of shape (batch,) or (batch, 1): an anomaly score per input, "
            "higher means more anomalous"
        )
    return "one float32 output of shape (batch,) or (batch, 1): the predicted value"


def default_interface(info: WorkloadInfo) -> ModelInterface:
    """What the definition alone tells a model's author."""
    rank = len(info.input.shape)
    layout = "features (batch, features)" if rank == 2 else f"rank {rank}, batch first"
    return ModelInterface(layout, (info.description,), default_output_text(info))


class Workload(ABC):
    """A reference workload. Subclasses set ``info`` and implement the two splits, and
    ``model_interface`` to say in words what a model must take and give."""

    info: WorkloadInfo
    model_interface: ClassVar[ModelInterface | None] = None

    @abstractmethod
    def train_split(self) -> Split:
        """The fixed training split (used by the reference model recipes)."""

    @abstractmethod
    def _eval_split(self) -> Split:
        """The fixed evaluation split, preprocessed, unchecked."""

    @abstractmethod
    def eval_data_sha256(self) -> str:
        """SHA-256 of the raw evaluation data (file bytes, or integer arrays for generated
        data), before any floating-point preprocessing, so that it is the same on every
        platform."""

    def eval_split(self) -> Split:
        """The evaluation split, after checking the raw data against the definition."""
        actual = self.eval_data_sha256()
        if self.info.eval_sha256 and actual != self.info.eval_sha256:
            raise DataChecksumError(
                f"{self.info.name}: evaluation data checksum {actual[:16]}... does not "
                f"match the definition ({self.info.eval_sha256[:16]}...); the data was "
                "changed or corrupted. Restore it from the repository."
            )
        return self._eval_split()

    @property
    def data_source(self) -> str:
        """ "bundled" for the shipped data; for user data, where it was read from."""
        return "bundled"

    @property
    def definition_file(self) -> DefinitionFile | None:
        """The file that declares the workload (None: defined in Python)."""
        return None

    def interface(self) -> ModelInterface:
        """What a model must take and give: ``model_interface``, or what the definition
        alone tells."""
        return self.model_interface or default_interface(self.info)

    def data_check(self) -> DataCheck:
        """Whether the evaluation data is the reference data. Bundled data is (its checksum
        is fixed in the definition and checked by ``eval_split``); user data is not, unless
        the workload checks it against published checksums (it then overrides this)."""
        if self.data_source == "bundled":
            return DataCheck(
                True, "bundled", "bundled data, checked against the definition's sha256"
            )
        return DataCheck(
            False,
            "none",
            f"{self.info.name} reads any data in its format and no checksum is published "
            "for it: non-reference data, scored for information only",
        )

    def output_fits(self, shape: tuple[int | str | None, ...], dtype: str) -> bool:
        """Whether a model output of this shape (batch first; a str or None is a dynamic
        size) and dtype follows the workload's output convention. A model that does not
        declare its output's shape (rank unknown: ``()``) may fit: its outputs themselves
        are checked when the quality is computed."""
        if dtype not in SCORE_DTYPES:
            return False
        if not shape:
            return True
        rest = shape[1:]
        if self.info.task == "classification":
            return len(rest) == 1 and (
                not isinstance(rest[0], int) or rest[0] == self.info.num_classes
            )
        return len(rest) == 0 or (len(rest) == 1 and (not isinstance(rest[0], int) or rest[0] == 1))

    def score(self, outputs: np.ndarray, labels: np.ndarray) -> float:
        """Quality of model outputs against labels, with the workload's metric."""
        return compute_metric(self.info, outputs, labels)
