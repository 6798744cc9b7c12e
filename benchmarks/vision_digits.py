"""vision-digits: handwritten digit classification on scikit-learn's bundled 8x8 digits.

Data: ``sklearn.datasets.load_digits`` (1797 grey-level images of 8x8 pixels, values 0..16,
shipped inside scikit-learn, so nothing is downloaded). The split is computed here with
numpy's legacy ``RandomState`` (whose stream numpy keeps frozen), per class, so it does not
depend on scikit-learn's splitting code. The checksum fixed below covers the raw integer
evaluation images and labels; any change to the data or the split is caught.
"""

from __future__ import annotations

import numpy as np

from ecoscore.benchmarks.base import (
    ModelInterface,
    ScenarioDefaults,
    Split,
    TensorSpec,
    Workload,
    WorkloadInfo,
    array_sha256,
)
from ecoscore.benchmarks.errors import DataFormatError

#: Share of each class held out for evaluation.
EVAL_FRACTION = 0.3
#: Seed of the split (numpy's legacy RandomState: its stream never changes).
SPLIT_SEED = 20240601
#: Raw pixel values run from 0 to this (the 8x8 images count pixels of a 4x4 block).
PIXEL_MAX = 16

EVAL_SHA256 = "2860d3195585cfbf6b20c6d5e81bcf02f71cb476931235dadde94f7287b92241"

INFO = WorkloadInfo(
    name="vision-digits",
    version="1.0",
    family="vision",
    task="classification",
    description=(
        "Handwritten digit recognition (0-9) on 8x8 grey-level images: scikit-learn's "
        "bundled digits data set (1797 images), a fixed stratified 70/30 split; 539 "
        "evaluation images. Input: pixels / 16 as float32 in [0, 1], shape (N, 1, 8, 8)."
    ),
    metric="accuracy",
    quality_gate=0.95,
    gate_rationale=(
        "On the 8x8 digits task, simple classifiers trained on ~1250 images reach "
        "0.96-0.99 held-out accuracy: a linear model (logistic regression) about 0.96-0.97, "
        "an RBF SVM or k-nearest neighbours about 0.98-0.99, a small CNN about 0.98-0.99. "
        "0.95 sits just below the linear line: a model under it does worse than the "
        "simplest sensible classifier, so its energy figure does not describe a working "
        "digit recogniser. The gate is set from the task, not from our reference model."
    ),
    input=TensorSpec("input", "float32", (None, 1, 8, 8)),
    num_classes=10,
    class_names=tuple(str(d) for d in range(10)),
    eval_sha256=EVAL_SHA256,
    scenarios=ScenarioDefaults(),
    seed=SPLIT_SEED,
)


def load_raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """The bundled digits as integer arrays: images uint8 (N, 8, 8), labels int64 (N,)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images)
    labels = np.asarray(bunch.target)
    where = "sklearn.datasets.load_digits"
    if images.ndim != 3 or images.shape[1:] != (8, 8):
        raise DataFormatError(f"{where}: images have shape {images.shape}, expected (N, 8, 8)")
    if labels.shape != (images.shape[0],):
        raise DataFormatError(
            f"{where}: {labels.shape} labels for {images.shape[0]} images (shape mismatch)"
        )
    if not np.array_equal(images, np.round(images)) or images.min() < 0 or images.max() > 16:
        raise DataFormatError(f"{where}: pixel values are not integers in [0, {PIXEL_MAX}]")
    if labels.min() < 0 or labels.max() > 9:
        raise DataFormatError(f"{where}: labels outside 0..9")
    return images.astype(np.uint8), labels.astype(np.int64)


def stratified_split(
    labels: np.ndarray, eval_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and eval indices (each sorted): ``round(eval_fraction * n_c)`` of every class
    ``c`` go to eval, chosen by a seeded permutation of that class's indices."""
    rng = np.random.RandomState(seed)
    train_parts, eval_parts = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        perm = idx[rng.permutation(idx.size)]
        n_eval = int(round(eval_fraction * idx.size))
        eval_parts.append(perm[:n_eval])
        train_parts.append(perm[n_eval:])
    return np.sort(np.concatenate(train_parts)), np.sort(np.concatenate(eval_parts))


def preprocess(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 8, 8) in 0..16 -> float32 (N, 1, 8, 8) in [0, 1]."""
    x = images.astype(np.float32) / np.float32(PIXEL_MAX)
    return np.ascontiguousarray(x[:, None, :, :])


class VisionDigits(Workload):
    model_interface = ModelInterface(
        layout="NCHW (batch, 1 channel, 8 rows, 8 columns)",
        preprocessing=(
            "sklearn.datasets.load_digits() images: uint8 8x8, values 0..16",
            "divide by 16 (not 255) as float32: values in [0, 1]",
            "add the channel axis: (N, 1, 8, 8)",
        ),
        output="one float32 output of shape (batch, 10): a score per digit 0..9 (logits or "
        "probabilities), in the order 0, 1, ..., 9",
    )
    info = INFO

    def __init__(self) -> None:
        self._raw: tuple[np.ndarray, np.ndarray] | None = None

    def _raw_split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        if self._raw is None:
            self._raw = load_raw_digits()
        images, labels = self._raw
        train_idx, eval_idx = stratified_split(labels, EVAL_FRACTION, SPLIT_SEED)
        idx = train_idx if which == "train" else eval_idx
        return images[idx], labels[idx]

    def train_split(self) -> Split:
        images, labels = self._raw_split("train")
        return Split(x=preprocess(images), y=labels)

    def _eval_split(self) -> Split:
        images, labels = self._raw_split("eval")
        return Split(x=preprocess(images), y=labels)

    def eval_data_sha256(self) -> str:
        return array_sha256(*self._raw_split("eval"))
