"""anomaly-wav: reading ToyADMOS / MIMII / DCASE-style folders of WAV files."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from ecoscore.benchmarks.errors import DataFormatError
from ecoscore.benchmarks.registry import get_workload
from ecoscore.benchmarks.wav_folder import WavFolderAnomaly, load_wav_folder, read_wav_folder

RATE = 16000
N = 2048


def write_wav(
    path: Path, samples: np.ndarray, rate: int = RATE, width: int = 2, channels: int = 1
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


def clip(value: int, n: int = N) -> np.ndarray:
    """A clip whose first sample tells which file it came from."""
    x = np.random.default_rng(value).normal(0, 1000, n).astype(np.int16)
    x[0] = value
    return x


def dcase_folder(root: Path) -> Path:
    for i in range(4):
        write_wav(root / "train" / f"normal_id_00_{i:08d}.wav", clip(100 + i))
    for i in range(2):
        write_wav(root / "test" / f"normal_id_00_{i:08d}.wav", clip(200 + i))
        write_wav(root / "test" / f"anomaly_id_00_{i:08d}.wav", clip(300 + i))
    return root


def test_train_test_layout(tmp_path: Path) -> None:
    train, test, labels = load_wav_folder(dcase_folder(tmp_path))
    assert train.dtype == test.dtype == np.int16
    assert train.shape == (4, N) and test.shape == (4, N)
    assert sorted(train[:, 0]) == [100, 101, 102, 103]
    # sorted by name: anomaly_* then normal_*
    assert list(test[:, 0]) == [300, 301, 200, 201]
    assert list(labels) == [1, 1, 0, 0]


def test_flat_layout_splits_normals_and_keeps_anomalies_for_test(tmp_path: Path) -> None:
    for i in range(6):
        write_wav(tmp_path / f"normal_id_01_{i:08d}.wav", clip(100 + i))
    for i in range(2):
        write_wav(tmp_path / f"anomaly_id_01_{i:08d}.wav", clip(300 + i))
    data = read_wav_folder(tmp_path)
    assert data.train.shape == (4, N) and data.test.shape == (4, N)
    assert set(data.train[:, 0]) | set(data.test[:, 0]) == {*range(100, 106), 300, 301}
    assert set(data.train[:, 0]).isdisjoint(data.test[:, 0])
    assert data.test_labels.sum() == 2
    assert all(v >= 300 for v, y in zip(data.test[:, 0], data.test_labels, strict=True) if y)
    again = read_wav_folder(tmp_path)  # the split is fixed
    assert np.array_equal(again.train, data.train)


def test_mimii_layout_labels_by_folder(tmp_path: Path) -> None:
    for i in range(4):
        write_wav(tmp_path / "normal" / f"{i:08d}.wav", clip(100 + i))
    write_wav(tmp_path / "abnormal" / "00000000.wav", clip(300))
    data = read_wav_folder(tmp_path)
    assert len(data.train) == 3 and list(data.test_labels) == [0, 1]
    assert data.test[1, 0] == 300


def test_dcase_2021_names_are_understood(tmp_path: Path) -> None:
    for i in range(2):
        write_wav(tmp_path / "train" / f"section_00_source_train_normal_{i:04d}.wav", clip(i))
    write_wav(tmp_path / "test" / "section_00_source_test_normal_0000.wav", clip(10))
    write_wav(tmp_path / "test" / "section_00_source_test_anomaly_0000.wav", clip(20))
    _, test, labels = load_wav_folder(tmp_path)
    assert dict(zip(test[:, 0], labels, strict=True)) == {10: 0, 20: 1}


def test_clips_are_cut_or_padded_to_the_median_length(tmp_path: Path) -> None:
    write_wav(tmp_path / "train" / "normal_a.wav", clip(1, 3000))
    write_wav(tmp_path / "train" / "normal_b.wav", clip(2, 2000))
    write_wav(tmp_path / "test" / "normal_c.wav", clip(3, 2000))
    short = clip(4, 1500)
    write_wav(tmp_path / "test" / "anomaly_d.wav", short)
    data = read_wav_folder(tmp_path)
    assert data.clip_samples == 2000 and data.sample_rate == RATE
    a = data.train[0]
    assert np.array_equal(a, clip(1, 3000)[:2000])  # cut at the end
    d = data.test[0]
    assert np.array_equal(d[:1500], short) and np.array_equal(d[1500:], short[:500])  # repeated


def test_workload_on_a_folder(tmp_path: Path) -> None:
    folder = dcase_folder(tmp_path)
    w = get_workload("anomaly-wav", data=folder)
    assert isinstance(w, WavFolderAnomaly)
    assert w.info.name == "anomaly-wav" and w.info.eval_sha256 == ""
    assert w.info.input.shape == (None, 128) and w.info.metric == "roc_auc"
    assert w.data_source == f"user:{folder}"
    ev, tr = w.eval_split(), w.train_split()
    assert ev.x.shape == (4, 128) and ev.x.dtype == np.float32 and list(ev.y) == [1, 1, 0, 0]
    assert tr.x.shape == (4, 128) and not tr.y.any()
    digest = w.eval_data_sha256()
    assert len(digest) == 64 and digest == WavFolderAnomaly(folder).eval_data_sha256()
    write_wav(folder / "test" / "anomaly_id_00_00000001.wav", clip(999))
    changed = WavFolderAnomaly(folder).eval_data_sha256()
    assert changed != digest
    write_wav(folder / "train" / "normal_id_00_00000000.wav", clip(998))
    assert WavFolderAnomaly(folder).eval_data_sha256() == changed  # train files are not in it


def bad_case(root: Path, name: str, **kwargs) -> Path:
    dcase_folder(root)
    return write_wav(root / "test" / name, clip(7), **kwargs)


def test_text_file_named_wav(tmp_path: Path) -> None:
    dcase_folder(tmp_path)
    bad = tmp_path / "test" / "anomaly_id_00_00000009.wav"
    bad.write_text("not audio at all\n")
    with pytest.raises(DataFormatError, match="anomaly_id_00_00000009.wav.*not a readable"):
        load_wav_folder(tmp_path)


def test_8_bit_file(tmp_path: Path) -> None:
    dcase_folder(tmp_path)
    bad = tmp_path / "test" / "anomaly_id_00_00000009.wav"
    write_wav(bad, np.full(N, 128, dtype=np.uint8), width=1)
    with pytest.raises(DataFormatError, match=r"00000009\.wav: 8-bit samples; expected 16-bit"):
        load_wav_folder(tmp_path)


def test_stereo_file(tmp_path: Path) -> None:
    bad_case(tmp_path, "normal_id_00_00000009.wav", channels=2)
    with pytest.raises(DataFormatError, match=r"00000009\.wav: 2 channels; expected mono"):
        load_wav_folder(tmp_path)


def test_mixed_sample_rates(tmp_path: Path) -> None:
    bad_case(tmp_path, "normal_id_00_00000009.wav", rate=8000)
    with pytest.raises(DataFormatError, match=r"00000009\.wav: sample rate 8000 Hz differs"):
        load_wav_folder(tmp_path)


def test_too_short_file(tmp_path: Path) -> None:
    dcase_folder(tmp_path)
    write_wav(tmp_path / "test" / "normal_id_00_00000009.wav", clip(5, 100))
    with pytest.raises(DataFormatError, match=r"00000009\.wav: 100 samples"):
        load_wav_folder(tmp_path)


def test_empty_or_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no .wav files"):
        load_wav_folder(tmp_path)
    with pytest.raises(DataFormatError, match="not a folder"):
        load_wav_folder(tmp_path / "nowhere")


def test_anomaly_in_train_is_refused(tmp_path: Path) -> None:
    dcase_folder(tmp_path)
    write_wav(tmp_path / "train" / "anomaly_id_00_00000000.wav", clip(5))
    with pytest.raises(DataFormatError, match="anomaly_id_00_00000000.wav: an anomalous clip"):
        load_wav_folder(tmp_path)


def test_unlabelled_file_and_one_class_test(tmp_path: Path) -> None:
    dcase_folder(tmp_path)
    write_wav(tmp_path / "test" / "clip_0001.wav", clip(5))
    with pytest.raises(DataFormatError, match="clip_0001.wav: cannot tell"):
        load_wav_folder(tmp_path)
    (tmp_path / "test" / "clip_0001.wav").unlink()
    for p in (tmp_path / "test").glob("anomaly_*.wav"):
        p.unlink()
    with pytest.raises(DataFormatError, match="no anomalous clip"):
        load_wav_folder(tmp_path)


def test_only_one_of_train_and_test(tmp_path: Path) -> None:
    write_wav(tmp_path / "test" / "normal_0.wav", clip(1))
    with pytest.raises(DataFormatError, match="not train/"):
        load_wav_folder(tmp_path)
