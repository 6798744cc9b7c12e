"""The CIFAR-10 reader (behind tiny-ic), on a tiny folder written in the exact standard
on-disk format."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from ecoscore.benchmarks.cifar10 import CLASS_NAMES, FOLDER_NAME, load_cifar10
from ecoscore.benchmarks.errors import DataFormatError
from ecoscore.benchmarks.registry import get_workload

PER_BATCH = 6


def _write(path: Path, doc: object) -> None:
    with open(path, "wb") as f:
        pickle.dump(doc, f, protocol=2)


def _batch(seed: int, n: int = PER_BATCH) -> tuple[np.ndarray, list[int]]:
    rng = np.random.RandomState(seed)
    data = rng.randint(0, 256, size=(n, 3072)).astype(np.uint8)
    labels = [int(v) for v in rng.randint(0, 10, size=n)]
    return data, labels


def _batch_doc(name: str, data: np.ndarray, labels: list[int]) -> dict[bytes, object]:
    return {
        b"batch_label": name.encode(),
        b"labels": labels,
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }


@pytest.fixture
def cifar_root(tmp_path: Path) -> Path:
    """``tmp_path/cifar-10-batches-py`` with five data batches, a test batch and the meta."""
    folder = tmp_path / FOLDER_NAME
    folder.mkdir()
    for i in range(1, 6):
        data, labels = _batch(i)
        _write(folder / f"data_batch_{i}", _batch_doc(f"training batch {i} of 5", data, labels))
    data, labels = _batch(99)
    data[0, :] = 0
    data[0, 1024:2048] = 255  # image 0: pure green
    labels[0] = 7
    _write(folder / "test_batch", _batch_doc("testing batch 1 of 1", data, labels))
    meta = {
        b"num_cases_per_batch": PER_BATCH,
        b"label_names": [n.encode() for n in CLASS_NAMES],
        b"num_vis": 3072,
    }
    _write(folder / "batches.meta", meta)
    return folder


def test_load_standard_folder(cifar_root: Path) -> None:
    train, test = load_cifar10(cifar_root)
    assert train.x.shape == (5 * PER_BATCH, 32, 32, 3)
    assert test.x.shape == (PER_BATCH, 32, 32, 3)
    assert train.x.dtype == np.uint8 and test.x.dtype == np.uint8
    assert train.y.dtype == np.int64
    expected_train = np.concatenate([_batch(i)[1] for i in range(1, 6)])
    np.testing.assert_array_equal(train.y, expected_train)
    assert test.y[0] == 7
    # channel layout: the first 1024 bytes are red, the next 1024 green, row by row
    np.testing.assert_array_equal(test.x[0, :, :, 0], 0)
    np.testing.assert_array_equal(test.x[0, :, :, 1], 255)
    np.testing.assert_array_equal(test.x[0, :, :, 2], 0)
    raw, _ = _batch(1)
    assert train.x[0, 31, 31, 2] == raw[0, 3071]
    assert train.x[0, 0, 1, 0] == raw[0, 1]


def test_parent_folder_is_accepted(cifar_root: Path) -> None:
    _, test = load_cifar10(cifar_root.parent)
    assert len(test) == PER_BATCH


def _expect_error(folder: Path, file_name: str, fragment: str) -> None:
    with pytest.raises(DataFormatError) as err:
        load_cifar10(folder)
    msg = str(err.value)
    assert file_name in msg, msg
    assert fragment in msg, msg


def test_wrong_shape(cifar_root: Path) -> None:
    data, labels = _batch(3)
    _write(cifar_root / "data_batch_3", _batch_doc("x", data[:, :3000], labels))
    _expect_error(cifar_root, "data_batch_3", "shape")


def test_wrong_dtype(cifar_root: Path) -> None:
    data, labels = _batch(2)
    _write(cifar_root / "data_batch_2", _batch_doc("x", data.astype(np.float32), labels))
    _expect_error(cifar_root, "data_batch_2", "uint8")


def test_bad_label(cifar_root: Path) -> None:
    data, labels = _batch(99)
    labels[2] = 10
    _write(cifar_root / "test_batch", _batch_doc("x", data, labels))
    _expect_error(cifar_root, "test_batch", "label 10 at index 2")


def test_label_count_mismatch(cifar_root: Path) -> None:
    data, labels = _batch(4)
    _write(cifar_root / "data_batch_4", _batch_doc("x", data, labels[:-1]))
    _expect_error(cifar_root, "data_batch_4", "labels for")


def test_missing_key_and_missing_file(cifar_root: Path) -> None:
    data, _ = _batch(5)
    _write(cifar_root / "data_batch_5", {b"data": data})
    _expect_error(cifar_root, "data_batch_5", "b'labels'")
    (cifar_root / "data_batch_5").unlink()
    _expect_error(cifar_root, "data_batch_5", "not found")


def test_wrong_label_names(cifar_root: Path) -> None:
    _write(cifar_root / "batches.meta", {b"label_names": [b"a", b"b"]})
    _expect_error(cifar_root, "batches.meta", "label names")


def test_truncated_pickle(cifar_root: Path) -> None:
    path = cifar_root / "data_batch_1"
    path.write_bytes(path.read_bytes()[:1000])
    _expect_error(cifar_root, "data_batch_1", "not a valid CIFAR-10 pickle")


class _RunsCommand:
    """Pickles as a call to os.system: loading it with plain pickle would run a command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return os.system, (f"touch {self.marker}",)


def test_code_in_pickle_is_refused_and_not_run(cifar_root: Path, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    data, labels = _batch(99)
    doc = _batch_doc("x", data, labels)
    doc[b"batch_label"] = _RunsCommand(marker)
    _write(cifar_root / "test_batch", doc)
    raw = (cifar_root / "test_batch").read_bytes()
    assert b"system" in raw  # the payload really is in the file
    with pytest.raises(DataFormatError) as err:
        get_workload("tiny-ic", data=cifar_root).eval_split()
    msg = str(err.value)
    assert "test_batch" in msg and "system" in msg and "refused" in msg
    assert not marker.exists()


def test_codec_trick_is_refused(cifar_root: Path) -> None:
    """_codecs.encode is allowed only with latin-1 (what protocol 2 uses for bytes)."""
    # protocol 2: GLOBAL _codecs.encode, args ("eA==", "base64"), REDUCE, then a dict
    payload = b"\x80\x02c_codecs\nencode\nX\x04\x00\x00\x00eA==X\x06\x00\x00\x00base64\x86R."
    (cifar_root / "data_batch_1").write_bytes(payload)
    _expect_error(cifar_root, "data_batch_1", "base64")


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no test_batch"):
        load_cifar10(tmp_path)
    with pytest.raises(DataFormatError, match="not a folder"):
        load_cifar10(tmp_path / "absent")


def test_numpy1_module_path_is_accepted(cifar_root: Path) -> None:
    """Files written by numpy 1.x (like the original CIFAR-10 pickles) name
    numpy.core.multiarray._reconstruct instead of numpy._core."""
    data, labels = _batch(99)
    raw = pickle.dumps(_batch_doc("x", data, labels), protocol=2)
    old = raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert old != raw
    (cifar_root / "test_batch").write_bytes(old)
    _, test = load_cifar10(cifar_root)
    np.testing.assert_array_equal(test.y, labels)
    np.testing.assert_array_equal(test.x.transpose(0, 3, 1, 2).reshape(len(labels), -1), data)
