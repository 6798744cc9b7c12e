"""Helpers for tests of workload files: write small data sets in the formats the adapters
read (image folders, CSV tables, WAV folders, .npz arrays) and the files that declare them."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_FILE = """
schema_version = "1"

[workload]
name = "bright-dark"
version = "1.0"
task = "classification"
description = "Bright or dark squares, a test image folder."

[data]
adapter = "image-folder"
colour = "rgb"

[split]
rule = "given"

[[preprocess]]
op = "resize"
size = [16, 16]

[[preprocess]]
op = "scale"
factor = 0.00392156862745098

[[preprocess]]
op = "normalise"
mean = [0.5, 0.5, 0.5]
std = [0.25, 0.25, 0.25]

[[preprocess]]
op = "layout"
to = "NCHW"

[input]
name = "input"
dtype = "float32"
shape = [3, 16, 16]

[output]
classes = ["dark", "bright"]

[metric]
name = "accuracy"
gate = 0.9
gate_rationale = "The two classes differ by their mean brightness: a working model is near 1."

[scenarios]
offline_batch_size = 16
"""

CSV_FILE = """
schema_version = "1"

[workload]
name = "machine-state"
version = "1.0"
task = "classification"
description = "Machine state from three sensor readings, a test CSV."

[data]
adapter = "csv"
file = "readings.csv"
label_column = "state"
feature_columns = ["temperature", "vibration", "current"]

[split]
rule = "seeded"
eval_fraction = 0.25
seed = 7

[[preprocess]]
op = "normalise"
mean = [60.0, 1.0, 10.0]
std = [10.0, 0.5, 2.0]

[input]
name = "input"
dtype = "float32"
shape = [3]

[output]
classes = ["idle", "running", "fault"]

[metric]
name = "macro_f1"
gate = 0.8
gate_rationale = "The states are well separated in the readings."
"""


def write_image_folder(root: Path, per_class: tuple[int, int] = (24, 10), seed: int = 0) -> Path:
    """``root/train|eval/<dark|bright>/*.png``: RGB squares of mixed sizes (20 to 23 pixels),
    dark ones around grey 60, bright ones around 190."""
    rng = np.random.RandomState(seed)
    for split, n in zip(("train", "eval"), per_class, strict=True):
        for label, level in (("dark", 60), ("bright", 190)):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                size = 20 + i % 4
                pixels = np.clip(rng.normal(level, 25, size=(size, size, 3)), 0, 255)
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{label}_{i:03d}.png")
    return root


def write_readings_csv(path: Path, rows: int = 240, seed: int = 0) -> Path:
    """A CSV of machine readings: temperature, vibration, current and the state."""
    rng = np.random.RandomState(seed)
    centres = {"idle": (45.0, 0.3, 6.0), "running": (62.0, 1.0, 11.0), "fault": (75.0, 2.0, 14.0)}
    lines = ["temperature,vibration,current,state"]
    states = list(centres)
    for i in range(rows):
        state = states[i % 3]
        t, v, c = (
            m + s * rng.randn() for m, s in zip(centres[state], (3.0, 0.15, 1.0), strict=True)
        )
        lines.append(f"{t:.2f},{v:.3f},{c:.2f},{state}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return path


def write_wav_folder(root: Path, rate: int = 8000, n: int = 1600, seed: int = 0) -> Path:
    """DCASE layout: train/normal_*.wav, test/normal_* and test/anomaly_* (a tone added)."""
    rng = np.random.RandomState(seed)
    t = np.arange(n) / rate
    for split, kinds in (("train", ("normal",) * 8), ("test", ("normal",) * 4 + ("anomaly",) * 4)):
        for i, kind in enumerate(kinds):
            x = 3000 * rng.randn(n)
            if kind == "anomaly":
                x += 6000 * np.sin(2 * np.pi * 1000 * t)
            write_wav(root / split / f"{kind}_id_00_{i:04d}.wav", np.clip(x, -32768, 32767), rate)
    return root


def pin_eval_data(file: Path, data: Path) -> str:
    """Pin the evaluation data's sha256 in a workload file, as a call that publishes its
    data does (a run on other data is then non-reference data, never graded)."""
    from ecoscore.benchmarks.workload_file import FileWorkload

    sha = FileWorkload(file, data).eval_data_sha256()
    text = file.read_text()
    assert "[data]\n" in text
    file.write_text(text.replace("[data]\n", f'[data]\neval_sha256 = "{sha}"\n', 1))
    return sha
