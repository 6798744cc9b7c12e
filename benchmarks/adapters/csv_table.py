"""CSV tables: one row per sample, a named label column and either named numeric feature
columns or one text column.

- ``file``: the CSV, relative to the data folder (or the data path itself when it is a file);
  UTF-8, a header row, RFC 4180 quoting (read by
  :func:`ecoscore.benchmarks.nlp_intent.read_csv_records`);
- ``label_column``: a class name (classification: one of the declared classes), ``0``/``1``
  or ``normal``/``anomaly`` (anomaly), or a number (regression);
- ``feature_columns``: numbers, each parsed as a float (an empty or non-finite value is an
  error naming the line and the column); or ``text_column``: texts, turned into
  :data:`~ecoscore.benchmarks.nlp_intent.FEATURE_DIM` hashed n-gram features by
  :func:`ecoscore.benchmarks.nlp_intent.featurize` (the same as nlp-intent);
- split ``given``: ``split_column`` says ``train``, or ``eval``/``test``, on every row.

``eval_sha256`` covers the evaluation rows (the used columns, as text, canonical JSON);
``data_sha256`` the file's bytes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ecoscore.benchmarks.adapters import (
    Context,
    RawData,
    RawSplit,
    SeededSplit,
    _Config,
    anomaly_label,
    seeded_split,
)
from ecoscore.benchmarks.errors import DataFormatError
from ecoscore.benchmarks.preprocess import Stage
from ecoscore.files import file_sha256

TASKS = ("classification", "anomaly", "regression")
TRAIN_NAMES = ("train",)
EVAL_NAMES = ("eval", "test")


class CsvConfig(_Config):
    adapter: Literal["csv"]
    file: str = "data.csv"
    label_column: str = Field(min_length=1)
    feature_columns: list[str] | None = Field(default=None, min_length=1)
    text_column: str | None = Field(default=None, min_length=1)
    split_column: str = "split"
    eval_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _one_kind_of_input(self) -> CsvConfig:
        if (self.feature_columns is None) == (self.text_column is None):
            raise ValueError("give either feature_columns (numbers) or text_column (texts)")
        if self.feature_columns is not None and len(set(self.feature_columns)) != len(
            self.feature_columns
        ):
            raise ValueError("feature_columns: a column is listed twice")
        return self

    def start_stage(self) -> Stage:
        from ecoscore.benchmarks.nlp_intent import FEATURE_DIM

        n = len(self.feature_columns) if self.feature_columns is not None else FEATURE_DIM
        return Stage("features", (n,))


def _label(value: str, ctx: Context, where: str) -> float | int:
    if ctx.task == "classification":
        v = value.strip()
        if v not in ctx.classes:
            raise DataFormatError(
                f"{where}: label {value!r} is not a class of the workload "
                f"({', '.join(ctx.classes)})"
            )
        return ctx.classes.index(v)
    if ctx.task == "anomaly":
        a = anomaly_label(value)
        if a is None:
            raise DataFormatError(f"{where}: label {value!r} is not 0/1 or normal/anomaly")
        return a
    try:
        t = float(value)
    except ValueError:
        raise DataFormatError(f"{where}: target {value!r} is not a number") from None
    if not math.isfinite(t):
        raise DataFormatError(f"{where}: target {value!r} is not finite")
    return t


def _split_of(value: str, where: str) -> str:
    v = value.strip().lower()
    if v in TRAIN_NAMES:
        return "train"
    if v in EVAL_NAMES:
        return "eval"
    raise DataFormatError(f"{where}: split {value!r} is not train, eval or test")


def read(config: CsvConfig, data: Path, ctx: Context) -> RawData:
    from ecoscore.benchmarks.nlp_intent import canonical_rows_sha256, featurize, read_csv_records

    path = data if data.is_file() else data / config.file
    inputs = config.feature_columns or [config.text_column or ""]
    required = [config.label_column, *inputs]
    if not isinstance(ctx.split, SeededSplit):
        required.append(config.split_column)
    _, records = read_csv_records(path, required)
    labels: list[float | int] = []
    features: list[list[float]] = []
    splits: list[str] = []
    for rec in records:
        where = f"{path}, line {rec.line}"
        labels.append(
            _label(rec.fields[config.label_column], ctx, f"{where}, {config.label_column}")
        )
        if config.feature_columns is not None:
            row = []
            for col in config.feature_columns:
                raw = rec.fields[col]
                try:
                    v = float(raw)
                except ValueError:
                    raise DataFormatError(f"{where}, {col}: {raw!r} is not a number") from None
                if not math.isfinite(v):
                    raise DataFormatError(f"{where}, {col}: {raw!r} is not finite")
                row.append(v)
            features.append(row)
        elif not rec.fields[inputs[0]].strip():
            raise DataFormatError(f"{where}, {inputs[0]}: empty text")
        if not isinstance(ctx.split, SeededSplit):
            splits.append(
                _split_of(rec.fields[config.split_column], f"{where}, {config.split_column}")
            )
    y = np.array(labels, dtype=np.float64 if ctx.task == "regression" else np.int64)
    if isinstance(ctx.split, SeededSplit):
        tr, ev = seeded_split(y, ctx.task, ctx.split.eval_fraction, ctx.split.seed)
    else:
        s = np.array(splits)
        tr, ev = np.flatnonzero(s == "train"), np.flatnonzero(s == "eval")
    if config.feature_columns is not None:
        x = np.array(features, dtype=np.float64).reshape(len(records), -1)
    else:
        x = featurize(rec.fields[inputs[0]] for rec in records)
    used = [config.label_column, *inputs]
    eval_rows = ([records[i].fields[c] for c in used] for i in ev)
    return RawData(
        stage=config.start_stage(),
        train=RawSplit(x[tr], y[tr]),
        eval=RawSplit(x[ev], y[ev]),
        eval_sha256=canonical_rows_sha256(eval_rows),
        data_sha256=file_sha256(path),
        description=f"{len(tr)} training and {len(ev)} evaluation rows of {path}",
    )
