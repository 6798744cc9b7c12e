"""anomaly-wav: machine-sound anomaly detection on a folder of WAV files the user has.

Folder layouts read (ToyADMOS, MIMII, DCASE task 2 style):

- ``FOLDER/train/*.wav`` (normal clips only) and ``FOLDER/test/*.wav`` (normal and
  anomalous clips), as in DCASE task 2;
- or all clips together in ``FOLDER/*.wav`` (and in ``FOLDER/normal/``,
  ``FOLDER/abnormal/`` as in MIMII): every anomalous clip goes to the test split, with as
  many normal clips (at most half of them) drawn by a fixed seed; the other normal clips
  form the training split.

A clip is normal or anomalous by its name: ``normal`` or ``anomaly`` as a ``_``-separated
word (``normal_id_00_00000000.wav``, ``anomaly_id_00_00000000.wav``,
``section_00_source_test_anomaly_0001.wav``), else by its folder (``normal/``,
``abnormal/``). Files are 16-bit PCM mono, read with the standard library's ``wave`` module,
all at one sample rate (nothing is resampled). Clips are brought to one length, the median
length in the folder: longer clips are cut at the end, shorter ones are padded by repeating
themselves from the start (which keeps their power spectrum, unlike zero padding). The
preprocessing is that of anomaly-machine (:func:`ecoscore.benchmarks.anomaly_machine.features`).
"""

from __future__ import annotations

import hashlib
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecoscore.benchmarks.anomaly_machine import FRAME, N_FEATURES, features
from ecoscore.benchmarks.base import ModelInterface, Split, TensorSpec, Workload, WorkloadInfo
from ecoscore.benchmarks.errors import DataFormatError
from ecoscore.files import file_sha256, open_untrusted

#: Largest WAV file read (a clip of a few seconds is a few hundred kB).
MAX_WAV_BYTES = 64 * 1024**2

SPLIT_SEED = 0
_NORMAL_WORDS = {"normal"}
_ANOMALY_WORDS = {"anomaly", "abnormal"}
_EXTENSIBLE_HINT = (
    " (WAVE_FORMAT_EXTENSIBLE headers are not read by Python 3.11's wave module; "
    "rewrite the file as plain 16-bit PCM)"
)


@dataclass(frozen=True)
class WavFolderData:
    """What a folder held: int16 clips of one length, labels, and where they came from."""

    sample_rate: int
    clip_samples: int
    train: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    train_files: tuple[Path, ...]
    test_files: tuple[Path, ...]


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """(sample rate, int16 samples) of a 16-bit PCM mono WAV file."""
    try:
        with (
            open_untrusted(path, MAX_WAV_BYTES, DataFormatError, "WAV file") as f,
            wave.open(f, "rb") as w,
        ):
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as e:
        hint = _EXTENSIBLE_HINT if "65534" in str(e) else ""
        raise DataFormatError(f"{path}: not a readable PCM WAV file: {e}{hint}") from None
    except OSError as e:
        raise DataFormatError(f"{path}: cannot read the file: {e}") from None
    if width != 2:
        raise DataFormatError(f"{path}: {8 * width}-bit samples; expected 16-bit PCM")
    if channels != 1:
        raise DataFormatError(f"{path}: {channels} channels; expected mono (1 channel)")
    samples = np.frombuffer(raw, dtype="<i2").astype(np.int16)
    if samples.size < FRAME:
        raise DataFormatError(
            f"{path}: {samples.size} samples; a clip needs at least {FRAME} (one analysis frame)"
        )
    return rate, samples


def label_of(path: Path) -> int:
    """0 for a normal clip, 1 for an anomalous one, from its name or else its folder."""
    words = set(path.stem.lower().split("_"))
    normal, anomalous = bool(words & _NORMAL_WORDS), bool(words & _ANOMALY_WORDS)
    if normal != anomalous:
        return int(anomalous)
    folder = path.parent.name.lower()
    if folder in _NORMAL_WORDS:
        return 0
    if folder in _ANOMALY_WORDS:
        return 1
    raise DataFormatError(
        f"{path}: cannot tell whether the clip is normal or anomalous; name it "
        "normal_*.wav or anomaly_*.wav, or put it in a normal/ or abnormal/ folder"
    )


def _wavs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav" and p.is_file())


def _split_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(train files, test files) by the folder's layout."""
    train_dir, test_dir = folder / "train", folder / "test"
    if train_dir.is_dir() or test_dir.is_dir():
        for d in (train_dir, test_dir):
            if not d.is_dir():
                raise DataFormatError(f"{folder}: has one of train/ and test/ but not {d.name}/")
        train, test = _wavs(train_dir), _wavs(test_dir)
        for d, files in ((train_dir, train), (test_dir, test)):
            if not files:
                raise DataFormatError(f"{d}: no .wav files")
        for p in train:  # train/ is normal by convention; a name saying otherwise is an error
            if set(p.stem.lower().split("_")) & _ANOMALY_WORDS:
                raise DataFormatError(f"{p}: an anomalous clip in train/; train/ is normal only")
        return train, test
    files = _wavs(folder)
    for sub in ("normal", "abnormal"):
        if (folder / sub).is_dir():
            files += _wavs(folder / sub)
    if not files:
        raise DataFormatError(
            f"{folder}: no .wav files (expected normal_*.wav and anomaly_*.wav, "
            "optionally in train/ and test/ subfolders)"
        )
    normal = sorted(p for p in files if label_of(p) == 0)
    anomalous = sorted(p for p in files if label_of(p) == 1)
    if len(normal) < 2:
        raise DataFormatError(f"{folder}: {len(normal)} normal clip(s); at least 2 are needed")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(normal))
    n_test = min(len(anomalous), len(normal) // 2)
    test_normal = {normal[i] for i in order[:n_test]}
    train = [p for p in normal if p not in test_normal]
    return train, sorted(test_normal) + anomalous


def _fit_length(samples: np.ndarray, n: int) -> np.ndarray:
    """Cut at the end, or pad by repeating the clip from its start."""
    return samples[:n] if samples.size >= n else np.resize(samples, n)


def read_wav_folder(folder: Path) -> WavFolderData:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(f"{folder}: not a folder (expected a folder of .wav files)")
    train_files, test_files = _split_files(folder)
    labels = np.array([label_of(p) for p in test_files], dtype=np.int64)
    if labels.min() == labels.max():
        kind = "anomalous" if labels[0] == 0 else "normal"
        raise DataFormatError(f"{folder}: the test clips hold no {kind} clip; ROC-AUC needs both")
    rate0, first = 0, Path()
    clips: list[np.ndarray] = []
    for p in (*train_files, *test_files):
        rate, samples = read_wav(p)
        if not clips:
            rate0, first = rate, p
        elif rate != rate0:
            raise DataFormatError(
                f"{p}: sample rate {rate} Hz differs from {rate0} Hz in {first}; all clips "
                "must share one rate (resample them first)"
            )
        clips.append(samples)
    n = int(np.median([c.size for c in clips]))
    fitted = np.stack([_fit_length(c, n) for c in clips])
    return WavFolderData(
        sample_rate=rate0,
        clip_samples=n,
        train=fitted[: len(train_files)],
        test=fitted[len(train_files) :],
        test_labels=labels,
        train_files=tuple(train_files),
        test_files=tuple(test_files),
    )


def load_wav_folder(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train clips, normal only; test clips; test labels 0 normal / 1 anomalous)."""
    data = read_wav_folder(folder)
    return data.train, data.test, data.test_labels


class WavFolderAnomaly(Workload):
    model_interface = ModelInterface(
        layout=f"features (batch, {N_FEATURES})",
        preprocessing=(
            "16-bit mono WAV clips of one sample rate, cut or padded to the median length",
            f"ecoscore.benchmarks.anomaly_machine.features(clips): {N_FEATURES} log10 band "
            "powers per clip, float32",
        ),
        output="one float32 output of shape (batch,) or (batch, 1): an anomaly score per "
        "clip, higher means more anomalous",
    )
    info = WorkloadInfo(
        name="anomaly-wav",
        version="1.0",
        family="anomaly",
        task="anomaly",
        description=(
            "Machine-sound anomaly detection on a user folder of 16-bit mono WAV clips "
            "(ToyADMOS, MIMII, DCASE task 2 layouts); one sample rate, clips cut or padded to "
            "the median length; 128 log band powers per clip; scored by ROC-AUC."
        ),
        metric="roc_auc",
        quality_gate=0.85,
        gate_rationale=(
            "MLPerf Tiny's anomaly-detection target (ROC-AUC 0.85 on ToyADMOS ToyCar). Some "
            "machine types of MIMII and DCASE task 2 are harder (their published baselines "
            "score below it), so a run on them may stay ungraded: the line is demanding on "
            "purpose."
        ),
        input=TensorSpec("input", "float32", (None, N_FEATURES)),
        num_classes=None,
        class_names=("normal", "anomalous"),
        eval_sha256="",
    )

    def __init__(self, data: Path) -> None:
        self.path = Path(data)
        self._data = read_wav_folder(self.path)
        self._features: dict[str, np.ndarray] = {}

    @property
    def data(self) -> WavFolderData:
        return self._data

    @property
    def data_source(self) -> str:
        return f"user:{self.path}"

    def _x(self, split: str) -> np.ndarray:
        if split not in self._features:
            clips = self._data.train if split == "train" else self._data.test
            self._features[split] = features(clips)
        return self._features[split]

    def train_split(self) -> Split:
        return Split(x=self._x("train"), y=np.zeros(len(self._data.train), dtype=np.int64))

    def _eval_split(self) -> Split:
        return Split(x=self._x("test"), y=self._data.test_labels)

    def eval_data_sha256(self) -> str:
        """SHA-256 over the test files: each one's path (relative to the folder) and the
        SHA-256 of its bytes, in sorted order."""
        h = hashlib.sha256()
        for p in sorted(self._data.test_files):
            h.update(p.relative_to(self.path).as_posix().encode() + b"\0")
            h.update(bytes.fromhex(file_sha256(p)))
        return h.hexdigest()
