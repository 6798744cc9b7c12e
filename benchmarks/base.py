"""What a workload is: a versioned definition of data, preprocessing, I/O spec, metric and gate.

A workload holds no engine code. Engines receive the numpy arrays a workload prepares and
return the model's primary output; the workload turns outputs into a quality figure.

Output conventions (what every model for a workload must produce):
- task "classification": one output of shape (batch, num_classes): logits or probabilities.
- task "anomaly": one output of shape (batch,) or (batch, 1): an anomaly score, higher means
  more anomalous (an autoencoder computes its reconstruction error inside the graph).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from ecoscore.benchmarks.errors import DataChecksumError
from ecoscore.benchmarks.metrics import compute_metric

Task = Literal["classification", "anomaly"]
Metric = Literal["accuracy", "macro_f1", "roc_auc"]


@dataclass(frozen=True)
class TensorSpec:
    """One model input: its name, dtype and shape (None for the batch dimension)."""

    name: str
    dtype: Literal["float32", "int64"]
    shape: tuple[int | None, ...]


@dataclass(frozen=True)
class ScenarioDefaults:
    """Default measurement settings for a workload (docs/measuring.md).

    Every measured window lasts at least ``min_duration_s`` and serves at least
    ``min_queries`` queries; warm-up runs before it and is excluded.
    """

    single_stream_min_duration_s: float = 10.0
    single_stream_min_queries: int = 1024
    offline_batch_size: int = 64
    offline_min_duration_s: float = 10.0
    offline_min_queries: int = 8192
    warmup_s: float = 2.0
    idle_s: float = 5.0
    repeats: int = 5


#: Settings used with ``--quick``: smoke runs, marked as such in the record.
QUICK = ScenarioDefaults(
    single_stream_min_duration_s=0.5,
    single_stream_min_queries=64,
    offline_min_duration_s=0.5,
    offline_min_queries=256,
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
    family: Literal["vision", "nlp", "anomaly"]
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
            known = hashlib.sha256(
                json.dumps(doc, sort_keys=True, default=str).encode()
            ).hexdigest()
            object.__setattr__(self, "_definition_sha256", known)  # frozen: set once, by hand
        return known


class Workload(ABC):
    """A reference workload. Subclasses set ``info`` and implement the two splits."""

    info: WorkloadInfo

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

    def score(self, outputs: np.ndarray, labels: np.ndarray) -> float:
        """Quality of model outputs against labels, with the workload's metric."""
        return compute_metric(self.info, outputs, labels)
