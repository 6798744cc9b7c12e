"""nlp-text-csv: text classification on a CSV of labelled texts that the user has on disk.

The format is the common public one: UTF-8, a header row, a text column and a label column
(``text,label`` by default), optionally a ``split`` column (``train``, or ``eval``/``test``).
Without a split column, a deterministic, stratified 75/25 split is made: within each label,
texts are ordered by the sha256 of their text and the first quarter goes to evaluation.

Texts go through the same preprocessing as nlp-intent
(``ecoscore.benchmarks.nlp_intent.featurize``), so a model for this workload takes a
(batch, FEATURE_DIM) float32 input named "input".
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecoscore.benchmarks.base import ModelInterface, Split, TensorSpec, Workload, WorkloadInfo
from ecoscore.benchmarks.errors import DataFormatError
from ecoscore.benchmarks.nlp_intent import (
    FEATURE_DIM,
    canonical_rows_sha256,
    featurize,
    read_csv_records,
)

SPLIT_COLUMN = "split"
TRAIN_NAMES = ("train",)
EVAL_NAMES = ("eval", "test")
EVAL_FRACTION = 0.25


@dataclass(frozen=True)
class LabelledText:
    line: int
    text: str
    label: str
    split: str | None  # "train", "eval", or None when the file has no split column


def read_labelled_texts(
    path: Path, text_column: str = "text", label_column: str = "label"
) -> list[LabelledText]:
    """The rows of a CSV of labelled texts, checked: no empty text or label, known splits."""
    path = Path(path)
    header, records = read_csv_records(path, (text_column, label_column))
    has_split = SPLIT_COLUMN in header
    rows = []
    for rec in records:
        text, label = rec.fields[text_column], rec.fields[label_column].strip()
        if not text.strip():
            raise DataFormatError(f"{path}, line {rec.line}: empty text in column {text_column!r}")
        if not label:
            raise DataFormatError(
                f"{path}, line {rec.line}: empty label in column {label_column!r}"
            )
        split = _split_name(path, rec.line, rec.fields[SPLIT_COLUMN]) if has_split else None
        rows.append(LabelledText(rec.line, text, label, split))
    return rows


def _split_name(path: Path, line: int, value: str) -> str:
    v = value.strip().lower()
    if v in TRAIN_NAMES:
        return "train"
    if v in EVAL_NAMES:
        return "eval"
    accepted = ", ".join(TRAIN_NAMES + EVAL_NAMES)
    raise DataFormatError(f"{path}, line {line}: split {value!r} is not one of {accepted}")


def load_text_csv(
    path: Path, text_column: str = "text", label_column: str = "label"
) -> tuple[list[str], list[str]]:
    """All texts and their labels, in file order (every split)."""
    rows = read_labelled_texts(path, text_column, label_column)
    return [r.text for r in rows], [r.label for r in rows]


def assign_splits(rows: list[LabelledText]) -> list[str]:
    """The split of each row: its own when the file has a split column, else a stratified
    75/25 split that depends only on the texts and labels (not on the file order)."""
    if all(r.split is not None for r in rows):
        return [r.split for r in rows if r.split is not None]
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_label[r.label].append(i)
    splits = ["train"] * len(rows)
    for indices in by_label.values():
        ordered = sorted(indices, key=lambda i: (hashlib.sha256(rows[i].text.encode()).digest(), i))
        # A label seen once stays in training; otherwise at least one text is evaluated.
        n_eval = max(1, round(len(ordered) * EVAL_FRACTION)) if len(ordered) > 1 else 0
        for i in ordered[:n_eval]:
            splits[i] = "eval"
    return splits


class TextCsv(Workload):
    """A user's CSV of labelled texts, read and checked when the workload is created."""

    model_interface = ModelInterface(
        layout=f"features (batch, {FEATURE_DIM})",
        preprocessing=(
            "the text column of your CSV",
            f"{FEATURE_DIM} hashed word 1-2-gram and character 3-gram bins (CRC-32), "
            "log(1 + count), each row scaled to unit L2 norm, float32: "
            "ecoscore.benchmarks.nlp_intent.featurize(texts)",
        ),
        output="one float32 output of shape (batch, labels): a score per label of your CSV "
        "(logits or probabilities), labels in sorted order",
    )

    def __init__(self, data: Path, text_column: str = "text", label_column: str = "label") -> None:
        self._path = Path(data)
        self._rows = read_labelled_texts(self._path, text_column, label_column)
        self._splits = assign_splits(self._rows)
        self.class_names = tuple(sorted({r.label for r in self._rows}))
        self._check_usable()
        self.info = WorkloadInfo(
            name="nlp-text-csv",
            version="1.0",
            family="nlp",
            task="classification",
            description=(
                f"Text classification on the user's CSV {self._path.name} "
                f"({len(self.class_names)} labels, columns {text_column!r}/{label_column!r}). "
                f"Input: {FEATURE_DIM} hashed word 1-2-gram and character 3-gram features "
                "(ecoscore.benchmarks.nlp_intent.featurize)."
            ),
            metric="macro_f1",
            quality_gate=0.0,
            gate_rationale=(
                "User data: the quality reachable on an arbitrary labelled-text file is not "
                "known in advance, so no gate is fixed; models are compared on the same file "
                "by their macro-F1, and no eco-score grade is certified on user data."
            ),
            input=TensorSpec("input", "float32", (None, FEATURE_DIM)),
            num_classes=len(self.class_names),
            class_names=self.class_names,
            eval_sha256="",
        )

    def _check_usable(self) -> None:
        if len(self.class_names) < 2:
            raise DataFormatError(
                f"{self._path}: a classification needs at least 2 labels, the file has "
                f"{len(self.class_names)} ({', '.join(self.class_names)})"
            )
        for name in ("train", "eval"):
            if name not in self._splits:
                raise DataFormatError(f"{self._path}: the {name} split has no rows")

    def _split(self, name: str) -> Split:
        rows = [r for r, s in zip(self._rows, self._splits, strict=True) if s == name]
        index = {c: i for i, c in enumerate(self.class_names)}
        x = featurize(r.text for r in rows)
        y = np.array([index[r.label] for r in rows], dtype=np.int64)
        return Split(x=x, y=y)

    def train_split(self) -> Split:
        return self._split("train")

    def _eval_split(self) -> Split:
        return self._split("eval")

    def eval_data_sha256(self) -> str:
        pairs = zip(self._rows, self._splits, strict=True)
        return canonical_rows_sha256((r.text, r.label) for r, s in pairs if s == "eval")

    @property
    def data_source(self) -> str:
        return f"user:{self._path}"
