"""tiny-ad: MLPerf Tiny's anomaly-detection task (ad01) on ToyADMOS ToyCar (DCASE 2020
task 2 development data), from the user's disk.

As the MLPerf Tiny reference defines it (docs/tiny_tasks.md):

- data: ``dev_data/ToyCar/test/{normal,anomaly}_id_0N_XXXXXXXX.wav`` (16 kHz, mono, 16-bit);
  the accuracy set ad01 is the clips of machine ids 01-04 whose index ends in 3
  (3, 13, 23, ...): 248 clips in the published data (140 normal, 108 anomalous);
- features, per clip: samples / 32768; log-mel spectrogram (1024-point FFT, hop 512, Hann
  window, centred frames with reflect padding, power 2, 128 Slaney mel bands over 0-8 kHz,
  ``10 log10(x + eps)``); frames 50 to 249 kept; 5 consecutive frames stacked, hop 1 frame:
  196 vectors of 640 float32 per clip (:func:`ecoscore.benchmarks.features.log_mel_frames`);
- score: each vector gets an anomaly score, the clip's score is the mean over its 196
  vectors; the metric is one ROC-AUC over all clips (ids pooled), target 0.85.

A model may give the score itself, shape (batch,) or (batch, 1), or, like the reference FC
autoencoder, its reconstruction (batch, 640): the score of a vector is then the mean squared
error over its 640 values, computed here as the reference computes it.

Evaluation samples are vectors: the split holds 196 consecutive rows per clip, in sorted
file order. No checksum of the ToyCar archive is published in the reference, so every run
is non-reference data until one is.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ecoscore.benchmarks.base import (
    SCORE_DTYPES,
    ScenarioDefaults,
    Split,
    TensorSpec,
    Workload,
    WorkloadInfo,
)
from ecoscore.benchmarks.errors import DataFormatError, WorkloadError
from ecoscore.benchmarks.features import log_mel_frames, samples_for_frames
from ecoscore.benchmarks.metrics import roc_auc
from ecoscore.benchmarks.reference_data import DataCheck, check_files, combined_sha256
from ecoscore.benchmarks.wav_pcm import read_mono

SAMPLE_RATE = 16000
LOG_MEL_PARAMS = {
    "sample_rate": SAMPLE_RATE,
    "fft_length": 1024,
    "hop_length": 512,
    "num_mel_bins": 128,
    "frames": 5,
    "power": 2.0,
    "first_frame": 50,
    "last_frame": 250,
}
VECTORS_PER_CLIP = 196
FEATURES = 640
TEST_IDS = ("01", "02", "03", "04")
#: ad01: the clips whose index is 3 modulo 10.
INDEX_MODULO, INDEX_REMAINDER = 10, 3
_NAME = re.compile(r"^(normal|anomaly)_id_(\d\d)_(\d{8})\.wav$")
MIN_SAMPLES = samples_for_frames(LOG_MEL_PARAMS["last_frame"], 1024, 512, center=True)

INFO = WorkloadInfo(
    name="tiny-ad",
    version="1.0",
    family="anomaly",
    task="anomaly",
    description=(
        "MLPerf Tiny anomaly detection (ad01): ToyADMOS ToyCar (DCASE 2020 task 2 "
        "development data), the clips of ids 01-04 whose index ends in 3 (248 in the "
        "published data). Input float32 (N, 640): 5 stacked frames of 128 log-mel bands "
        "(frames 50-249 of each clip, 196 vectors per clip). Output: an anomaly score per "
        "vector, or a 640-value reconstruction (scored by its mean squared error); a clip's "
        "score is the mean over its vectors; ROC-AUC over all clips."
    ),
    metric="roc_auc",
    quality_gate=0.85,
    gate_rationale=(
        "An ROC-AUC of 0.85 is MLPerf Tiny's closed-division target for anomaly detection "
        "(benchmark README and submission checker of mlcommons/tiny), met by the reference "
        "FC autoencoder (0.86 on ad01 in published closed results)."
    ),
    input=TensorSpec("input", "float32", (None, FEATURES)),
    num_classes=None,
    class_names=("normal", "anomalous"),
    eval_sha256="",
    scenarios=ScenarioDefaults(),
)


def resolve_folder(path: Path) -> Path:
    """The ToyCar folder (holding ``test/``): ``path``, ``path/ToyCar`` or
    ``path/dev_data/ToyCar``."""
    path = Path(path)
    for candidate in (path, path / "ToyCar", path / "dev_data" / "ToyCar"):
        if (candidate / "test").is_dir():
            return candidate
    raise DataFormatError(
        f"{path}: no test/ folder (give dev_data/ToyCar of the DCASE 2020 task 2 data)"
    )


def clip_vectors(path: Path) -> np.ndarray:
    """The 196 stacked log-mel vectors (196, 640) float32 of one clip."""
    samples = read_mono(path, rate=SAMPLE_RATE)
    if samples.size < MIN_SAMPLES:
        raise DataFormatError(
            f"{path}: {samples.size} samples; the features need at least {MIN_SAMPLES} "
            f"({MIN_SAMPLES / SAMPLE_RATE:.2f} s)"
        )
    return log_mel_frames(samples.astype(np.float64) / 32768.0, **LOG_MEL_PARAMS)


def eval_files(folder: Path) -> list[tuple[Path, int]]:
    """The ad01 clips of ``folder/test`` with labels (0 normal, 1 anomaly), sorted by name."""
    test = folder / "test"
    out = []
    for p in sorted(test.iterdir(), key=lambda p: p.name):
        if p.suffix.lower() != ".wav":
            continue
        m = _NAME.match(p.name)
        if m is None:
            raise DataFormatError(
                f"{p}: not a ToyCar test clip name (normal_id_NN_XXXXXXXX.wav or "
                "anomaly_id_NN_XXXXXXXX.wav)"
            )
        kind, machine, index = m.groups()
        if machine in TEST_IDS and int(index) % INDEX_MODULO == INDEX_REMAINDER:
            out.append((p, int(kind == "anomaly")))
    labels = {label for _, label in out}
    if labels != {0, 1}:
        raise DataFormatError(
            f"{test}: the ad01 selection (ids 01-04, index ending in 3) holds "
            f"{len(out)} clips and not both normal and anomalous ones; ROC-AUC needs both"
        )
    return out


def train_files(folder: Path) -> list[Path]:
    files = sorted((folder / "train").glob("normal_id_*.wav"))
    if not files:
        raise DataFormatError(f"{folder / 'train'}: no normal_id_*.wav clips")
    return files


class TinyAd(Workload):
    info = INFO

    def __init__(self, data: Path) -> None:
        self.path = Path(data)
        self.folder = resolve_folder(self.path)
        self._files = eval_files(self.folder)
        self._eval: Split | None = None
        self._check: DataCheck | None = None

    @property
    def data_source(self) -> str:
        return f"user:{self.path}"

    def train_split(self) -> Split:
        x = np.concatenate([clip_vectors(p) for p in train_files(self.folder)])
        return Split(x=x, y=np.zeros(len(x), dtype=np.int64))

    def _eval_split(self) -> Split:
        if self._eval is None:
            x = np.concatenate([clip_vectors(p) for p, _ in self._files])
            y = np.repeat([label for _, label in self._files], VECTORS_PER_CLIP)
            self._eval = Split(x=x, y=y.astype(np.int64))
        return self._eval

    def data_check(self) -> DataCheck:
        if self._check is None:
            self._eval_split()  # a wrong layout is refused before any checksum is computed
            given = {p.relative_to(self.folder).as_posix(): p for p, _ in self._files}
            self._check = check_files(self.info.name, given)
        return self._check

    def eval_data_sha256(self) -> str:
        """One sha256 over the ad01 clips (relative path and sha256 of each)."""
        return combined_sha256(self.data_check().files)

    def output_fits(self, shape: tuple[int | str | None, ...], dtype: str) -> bool:
        if len(shape) == 2 and shape[1] == FEATURES and dtype in SCORE_DTYPES:
            return True
        return super().output_fits(shape, dtype)

    def vector_scores(self, outputs: np.ndarray) -> np.ndarray:
        """One score per vector: the output itself, or the mean squared error of a
        reconstruction against the evaluation vectors."""
        out = np.asarray(outputs)
        n = len(self._eval_split())
        if out.shape[0] != n:
            raise WorkloadError(f"model returned {out.shape[0]} outputs for {n} inputs")
        if out.ndim == 2 and out.shape[1] == FEATURES:
            diff = out.astype(np.float64) - self._eval_split().x
            return np.mean(diff * diff, axis=1)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1:
            raise WorkloadError(
                f"tiny-ad expects a score per vector (batch,) or (batch, 1), or a "
                f"reconstruction (batch, {FEATURES}); the model gives {tuple(out.shape)}"
            )
        return out.astype(np.float64)

    def score(self, outputs: np.ndarray, labels: np.ndarray) -> float:
        scores = self.vector_scores(outputs)
        if not np.all(np.isfinite(scores)):
            raise WorkloadError(
                f"model produced {int(np.sum(~np.isfinite(scores)))} NaN or infinite scores"
            )
        per_clip = scores.reshape(-1, VECTORS_PER_CLIP).mean(axis=1)
        return roc_auc(per_clip, np.asarray(labels)[::VECTORS_PER_CLIP])
