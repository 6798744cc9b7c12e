"""Small synthetic data sets written in the published layouts of the MLPerf Tiny tasks.

The files have the exact format of the real ones (CIFAR-10 python pickles, Speech Commands
WAV files in label folders and its .tar.gz archive, vw_coco2014_96 JPEG folders, DCASE 2020
ToyCar WAV clips) with a learnable signal in them, so that smoke-trained models score above
chance. They are not the reference data: their checksums match no published one.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from ecoscore.benchmarks import tiny_kws
from ecoscore.benchmarks.cifar10 import CLASS_NAMES
from ecoscore.benchmarks.reference_data import file_digest
from ecoscore.benchmarks.wav_pcm import pcm16_bytes


def _pickle(path: Path, doc: object) -> None:
    with open(path, "wb") as f:
        pickle.dump(doc, f, protocol=2)


def _cifar_images(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """uint8 (N, 3072) channel-planar: class c has a colour tilt and a band at row 3c."""
    n = len(labels)
    img = rng.integers(0, 96, size=(n, 3, 32, 32)).astype(np.int16)
    for i, c in enumerate(labels):
        img[i, c % 3] += 60 + 10 * c
        img[i, :, 3 * c : 3 * c + 3, :] += 90
    return np.clip(img, 0, 255).astype(np.uint8).reshape(n, 3072)


def write_cifar(root: Path, n_test: int = 40, n_train_per_batch: int = 20, seed: int = 0) -> Path:
    """``root/cifar-10-batches-py`` with five data batches, the test batch and the meta."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(1, 7):
        n = n_test if i == 6 else n_train_per_batch
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        doc = {
            b"batch_label": b"testing batch 1 of 1" if i == 6 else f"training batch {i}".encode(),
            b"labels": [int(v) for v in labels],
            b"data": _cifar_images(rng, labels),
            b"filenames": [f"img_{i}_{k}.png".encode() for k in range(n)],
        }
        _pickle(folder / ("test_batch" if i == 6 else f"data_batch_{i}"), doc)
    meta = {b"num_cases_per_batch": n_test, b"label_names": [c.encode() for c in CLASS_NAMES]}
    _pickle(folder / "batches.meta", meta)
    (folder / "readme.html").write_text("<html></html>")
    return folder


def kws_clip(label: int, rng: np.random.Generator, samples: int = 16000) -> np.ndarray:
    """int16 one-second clip: a tone whose pitch depends on the class, in noise."""
    t = np.arange(samples) / 16000.0
    freq = 300.0 + 250.0 * label
    x = 6000 * np.sin(2 * np.pi * freq * t) * (label != 10) + rng.normal(0, 600, samples)
    return np.clip(x, -32768, 32767).astype(np.int16)


def _kws_members(per_class: int, seed: int, extra_word: str) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(seed)
    out = []
    folders = [*tiny_kws.WORDS, tiny_kws.SILENCE, extra_word]
    for folder in folders:
        label = tiny_kws.label_of(folder)
        for k in range(per_class):
            n = 16000 if k % 3 else 15000  # some clips are shorter than 1 s, as in the data
            out.append(
                (f"{folder}/{k:08x}_nohash_0.wav", pcm16_bytes(kws_clip(label, rng, n), 16000))
            )
    return out


def write_kws_archive(path: Path, per_class: int = 3, seed: int = 0) -> Path:
    """A ``speech_commands_test_set_v0.02.tar.gz``-style archive (``./<label>/<clip>.wav``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in _kws_members(per_class, seed, "bed"):
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
        readme = b"synthetic test set\n"
        info = tarfile.TarInfo("./LICENSE")
        info.size = len(readme)
        tar.addfile(info, io.BytesIO(readme))
    return path


def write_kws_folder(root: Path, per_class: int = 3, seed: int = 0) -> Path:
    root = Path(root)
    for name, raw in _kws_members(per_class, seed, "bed"):
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(raw)
    return root


def write_kws_training_folder(root: Path, per_class: int = 4, seed: int = 1) -> Path:
    """A ``speech_commands_v0.02``-style folder: word folders, the two lists, noise."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    val, test = [], []
    for folder in [*tiny_kws.WORDS, "bed"]:
        label = tiny_kws.label_of(folder)
        for k in range(per_class):
            rel = f"{folder}/{k:08x}_nohash_0.wav"
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(pcm16_bytes(kws_clip(label, rng), 16000))
            (val if k == 0 else test if k == 1 else []).append(rel)
    noise = root / "_background_noise_"
    noise.mkdir(parents=True, exist_ok=True)
    for name in ("white_noise.wav", "running_tap.wav"):
        (noise / name).write_bytes(pcm16_bytes(rng.normal(0, 800, 48000).astype(np.int16), 16000))
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    return root


def write_vww(root: Path, per_class: int = 20, seed: int = 0) -> Path:
    """``root/vw_coco2014_96/{non_person,person}/COCO_*.jpg``: a person is a bright blob."""
    from PIL import Image

    folder = Path(root) / "vw_coco2014_96"
    rng = np.random.default_rng(seed)
    for label, name in enumerate(("non_person", "person")):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            img = rng.integers(0, 120, size=(96, 96, 3)).astype(np.int16)
            if label:
                r, c = rng.integers(10, 60, size=2)
                img[r : r + 30, c : c + 20] += 120
            split = "train" if k % 2 else "val"
            path = folder / name / f"COCO_{split}2014_{100 + k:012d}.jpg"
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=95)
    return folder


def toycar_clip(anomalous: bool, rng: np.random.Generator, samples: int) -> np.ndarray:
    """int16 16 kHz clip: a motor hum and noise; an anomaly adds a high whine."""
    t = np.arange(samples) / 16000.0
    x = 3000 * np.sin(2 * np.pi * 120 * t) + rng.normal(0, 500, samples)
    if anomalous:
        x += 2500 * np.sin(2 * np.pi * 3100 * t)
    return np.clip(x, -32768, 32767).astype(np.int16)


TOYCAR_SAMPLES = 128000  # 8 s: enough for frames 50..249


def write_toycar(root: Path, train_per_id: int = 2, seed: int = 0) -> Path:
    """``root/dev_data/ToyCar/{train,test}``: ad01 picks indices 3 and 13 of ids 01-04."""
    folder = Path(root) / "dev_data" / "ToyCar"
    rng = np.random.default_rng(seed)
    (folder / "train").mkdir(parents=True, exist_ok=True)
    (folder / "test").mkdir(parents=True, exist_ok=True)
    for mid in ("01", "02", "03", "04"):
        for k in range(train_per_id):
            raw = pcm16_bytes(toycar_clip(False, rng, TOYCAR_SAMPLES), 16000)
            (folder / "train" / f"normal_id_{mid}_{k:08d}.wav").write_bytes(raw)
        for kind in ("normal", "anomaly"):
            for index in (3, 4, 13):  # 4 is not in ad01
                raw = pcm16_bytes(toycar_clip(kind == "anomaly", rng, TOYCAR_SAMPLES), 16000)
                (folder / "test" / f"{kind}_id_{mid}_{index:08d}.wav").write_bytes(raw)
    return folder


def sha256_pins(files: dict[str, Path]) -> dict[str, str]:
    """The test hook's pins for these files (name -> sha256)."""
    return {name: file_digest(p, "sha256") for name, p in files.items()}
