"""Data adapters of workload files: each module reads one kind of data folder or file into
raw arrays for the two splits, with the checksums that pin them.

An adapter module holds its config (a pydantic model with ``adapter: Literal["NAME"]``, what
a workload file's ``[data]`` table holds) and ``read(config, data_dir, context) -> RawData``.
What every adapter shares is here: the split rules and the checksums.

Rules enforced by every adapter:

- nothing in the data folder is silently skipped: a file or folder the layout does not
  expect is an error naming it (hidden names, starting with ``.``, are the one exception);
- a split (given by the layout, or ``seeded``) must hold data for every class it needs;
- ``eval_sha256`` covers the evaluation data as read (file bytes, or canonical rows/arrays),
  ``data_sha256`` covers every file the adapter read, both splits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ecoscore.benchmarks.errors import DataFormatError
from ecoscore.benchmarks.preprocess import Stage
from ecoscore.files import file_sha256


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GivenSplit(_Config):
    """The data says which sample is in which split (folders, a split column, two files)."""

    rule: Literal["given"]


class SeededSplit(_Config):
    """A split drawn here: ``eval_fraction`` of the samples (of each class for a
    classification) go to evaluation, chosen by a permutation seeded with ``seed`` (numpy's
    legacy RandomState, whose stream numpy keeps frozen). For an anomaly task, every
    anomalous sample and ``eval_fraction`` of the normal ones go to evaluation."""

    rule: Literal["seeded"]
    eval_fraction: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] = 0.25
    seed: Annotated[int, Field(ge=0, lt=2**32, strict=True)] = 0


SplitRule = Annotated[GivenSplit | SeededSplit, Field(discriminator="rule")]


@dataclass(frozen=True)
class Context:
    """What an adapter needs from the rest of the file."""

    task: Literal["classification", "anomaly", "regression"]
    classes: tuple[str, ...]  # classification: the declared classes, in output order
    split: GivenSplit | SeededSplit
    where: str  # the workload file, for messages


@dataclass
class RawSplit:
    """Raw samples (a list of images, or one array) and their labels or targets."""

    x: list[np.ndarray] | np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class RawData:
    stage: Stage  # what the samples are before preprocessing
    train: RawSplit
    eval: RawSplit
    eval_sha256: str
    data_sha256: str
    description: str  # one line: what was read


def files_sha256(root: Path, files: Iterable[Path]) -> str:
    """SHA-256 over files: each one's path relative to ``root`` and the SHA-256 of its bytes,
    in sorted order of the relative paths."""
    h = hashlib.sha256()
    for rel, path in sorted((p.relative_to(root).as_posix(), p) for p in files):
        h.update(rel.encode() + b"\0")
        h.update(bytes.fromhex(file_sha256(path)))
    return h.hexdigest()


def seeded_split(
    y: np.ndarray, task: str, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and eval indices (each sorted) by the seeded rule (see :class:`SeededSplit`)."""
    rng = np.random.RandomState(seed)
    if task == "regression":
        perm = rng.permutation(y.size)
        n_eval = int(round(fraction * y.size))
        return np.sort(perm[n_eval:]), np.sort(perm[:n_eval])
    train, evals = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        perm = idx[rng.permutation(idx.size)]
        if task == "anomaly" and c != 0:
            evals.append(perm)
            continue
        n_eval = int(round(fraction * idx.size))
        evals.append(perm[:n_eval])
        train.append(perm[n_eval:])
    empty = np.zeros(0, dtype=np.int64)
    return (
        np.sort(np.concatenate(train)) if train else empty,
        np.sort(np.concatenate(evals)) if evals else empty,
    )


def check_splits(data: RawData, ctx: Context, where: str) -> None:
    """Both splits are usable for the task: not empty, every class in each (classification),
    normal training data and both kinds in evaluation (anomaly)."""
    for name, split in (("training", data.train), ("evaluation", data.eval)):
        if len(split) == 0:
            raise DataFormatError(f"{where}: the {name} split is empty")
    if ctx.task == "classification":
        for name, split in (("training", data.train), ("evaluation", data.eval)):
            missing = sorted(set(range(len(ctx.classes))) - set(np.unique(split.y).tolist()))
            if missing:
                shown = ", ".join(ctx.classes[i] for i in missing)
                raise DataFormatError(f"{where}: the {name} split has no sample of: {shown}")
    elif ctx.task == "anomaly":
        if np.any(data.train.y != 0):
            raise DataFormatError(f"{where}: the training split holds anomalous samples")
        if np.unique(data.eval.y).size != 2:
            raise DataFormatError(
                f"{where}: the evaluation split needs both normal and anomalous samples"
            )


def anomaly_label(value: str) -> int | None:
    """0 for normal, 1 for anomalous, from a label text; None when it is neither."""
    v = value.strip().lower()
    if v in ("0", "normal", "ok"):
        return 0
    if v in ("1", "anomaly", "anomalous", "abnormal"):
        return 1
    return None


def not_hidden(path: Path) -> bool:
    return not path.name.startswith(".")
