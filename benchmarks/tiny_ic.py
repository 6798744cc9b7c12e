"""tiny-ic: MLPerf Tiny's image-classification task (ic01) on CIFAR-10, from the user's disk.

As the MLPerf Tiny reference defines it (facts from mlcommons/tiny, cited in
docs/tiny_tasks.md): CIFAR-10's 10 classes, 32x32 RGB images fed **unscaled** (raw 0..255
as float32, no mean or standard deviation), channels last (NHWC, R, G, B), top-1 accuracy,
target 85 %. The reference model is ResNet-8 (``models/tiny_ic``).

Data: the ``cifar-10-batches-py`` folder of CIFAR-10's "python version" (or the folder that
holds it). Evaluation: the whole 10,000-image ``test_batch``. (The closed division checks
its 85 % on 200 images of that batch, 20 per class; the full batch estimates the same
accuracy with a 7x smaller standard error.) Training (recipes only): ``data_batch_1..5``.

Reference data: ``test_batch`` and ``batches.meta`` must match the md5 published with
torchvision's CIFAR-10 loader; other data is non-reference (scored, never graded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecoscore.benchmarks.base import ScenarioDefaults, Split, TensorSpec, Workload, WorkloadInfo
from ecoscore.benchmarks.cifar10 import (
    CLASS_NAMES,
    META_FILE,
    TEST_FILE,
    load_cifar10,
    read_batch,
    read_label_names,
    resolve_folder,
    to_nhwc,
)
from ecoscore.benchmarks.reference_data import DataCheck, check_files, combined_sha256

INFO = WorkloadInfo(
    name="tiny-ic",
    version="1.0",
    family="vision",
    task="classification",
    description=(
        "MLPerf Tiny image classification (ic01): CIFAR-10, 10 classes, the 10,000-image "
        "test batch read from the user's cifar-10-batches-py folder. Input float32 "
        "(N, 32, 32, 3) NHWC, raw pixel values 0..255, channels R, G, B (no scaling, as the "
        "reference feeds ResNet-8); NCHW models get the same values transposed."
    ),
    metric="accuracy",
    quality_gate=0.85,
    gate_rationale=(
        "85 % top-1 is MLPerf Tiny's closed-division target for image classification "
        "(benchmark/README.md and the submission checker of mlcommons/tiny), met by the "
        "reference ResNet-8 (78,666 parameters): a model below it does not do the task the "
        "published energy results were measured on."
    ),
    input=TensorSpec("input", "float32", (None, 32, 32, 3), "NHWC"),
    num_classes=len(CLASS_NAMES),
    class_names=CLASS_NAMES,
    eval_sha256="",
    scenarios=ScenarioDefaults(),
)


def preprocess(images_nhwc: np.ndarray) -> np.ndarray:
    """uint8 (N, 32, 32, 3) -> float32, values unchanged (0..255)."""
    return np.ascontiguousarray(images_nhwc, dtype=np.float32)


class TinyIc(Workload):
    info = INFO

    def __init__(self, data: Path) -> None:
        self.path = Path(data)
        self.folder = resolve_folder(self.path)
        self._test: tuple[np.ndarray, np.ndarray] | None = None
        self._check: DataCheck | None = None

    @property
    def data_source(self) -> str:
        return f"user:{self.path}"

    def _raw_test(self) -> tuple[np.ndarray, np.ndarray]:
        if self._test is None:
            read_label_names(self.folder)
            self._test = read_batch(self.folder / TEST_FILE)
        return self._test

    def train_split(self) -> Split:
        train, _ = load_cifar10(self.folder)
        return Split(x=preprocess(train.x), y=train.y)

    def _eval_split(self) -> Split:
        data, labels = self._raw_test()
        return Split(x=preprocess(to_nhwc(data)), y=labels)

    def data_check(self) -> DataCheck:
        if self._check is None:
            self._raw_test()  # a wrong layout is refused before any checksum is computed
            files = {TEST_FILE: self.folder / TEST_FILE, META_FILE: self.folder / META_FILE}
            self._check = check_files(self.info.name, files)
        return self._check

    def eval_data_sha256(self) -> str:
        """SHA-256 over ``test_batch`` and ``batches.meta`` (name and sha256 of each)."""
        return combined_sha256(self.data_check().files)
