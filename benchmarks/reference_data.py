"""Reference data: the published checksums of the workloads' evaluation files, and the check
that decides whether a run read the reference data (gradable) or not (information only).

Rules this module enforces:
- a checksum is pinned only from a published source, and the source is named beside it
  (``PUBLISHED``); a data set with no published checksum has no pin, and nothing here
  invents one;
- data is reference data only when every pinned file was read and matches its pin; a
  mismatch, a pinned file that was not given (an extracted folder instead of the published
  archive) or a data set without pins gives non-reference data: the run is recorded and
  scored for information, never graded or certified (``ecoscore.grading.grade``);
- tests may pin the sha256 of their synthetic files with :func:`pin_for_tests`, a context
  manager reachable from Python only, never from the command line; a check satisfied that
  way says ``pinned_by="test-hook"``, the record carries it, and such a record can never
  certify.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

PinnedBy = Literal["bundled", "definition", "published", "test-hook", "none"]
Algorithm = Literal["md5", "sha256"]

TORCHVISION_CIFAR = (
    "torchvision/datasets/cifar.py (pytorch/vision @ 5c2bb42d9594c4d1a2c892fca7279538626b2aad), "
    "the md5 list of CIFAR-10's python version"
)
TFDS_SPEECH_COMMANDS = (
    "tensorflow_datasets/url_checksums/speech_commands.txt (tensorflow/datasets @ "
    "333639b37af6), the sha256 of the archive TFDS downloads for the test split"
)


@dataclass(frozen=True)
class Pin:
    """A published checksum of one evaluation file (``file``: its name in the data set)."""

    file: str
    algorithm: Algorithm
    digest: str
    source: str


@dataclass(frozen=True)
class DataCheck:
    """The outcome of checking a workload's evaluation files against their pins.

    ``files`` maps each file the check read to its sha256, so that the record says what was
    read even when it is not the reference data.
    """

    reference: bool
    pinned_by: PinnedBy
    summary: str
    files: Mapping[str, str] = field(default_factory=dict)


#: Published checksums, by workload. tiny-vww and tiny-ad have none: neither the Silicon Labs
#: archive vw_coco2014_96.tar.gz nor the DCASE 2020 ToyCar zip has a checksum published in
#: the MLPerf Tiny reference or in a source read for this table.
PUBLISHED: dict[str, tuple[Pin, ...]] = {
    "tiny-ic": (
        Pin("test_batch", "md5", "40351d587109b95175f43aff81a1287e", TORCHVISION_CIFAR),
        Pin("batches.meta", "md5", "5ff9c542aee3614f3951f8cda6e48888", TORCHVISION_CIFAR),
    ),
    "tiny-kws": (
        Pin(
            "speech_commands_test_set_v0.02.tar.gz",
            "sha256",
            "cc2a00c1147c2254e9be3fa0f779d8c17421dc349b86366567a8edfa9acd51df",
            TFDS_SPEECH_COMMANDS,
        ),
    ),
    "tiny-vww": (),
    "tiny-ad": (),
}

_TEST_PINS: dict[str, tuple[Pin, ...]] = {}
_TEST_SOURCE = "pinned by ecoscore's test hook (tests only; never certifies)"


@contextmanager
def pin_for_tests(workload: str, sha256_by_file: Mapping[str, str]) -> Iterator[None]:
    """Within the block, ``workload``'s files are checked against these sha256 digests
    instead of the published pins. Tests only: the check then reports ``test-hook``."""
    previous = _TEST_PINS.get(workload)
    _TEST_PINS[workload] = tuple(
        Pin(name, "sha256", digest.lower(), _TEST_SOURCE) for name, digest in sha256_by_file.items()
    )
    try:
        yield
    finally:
        if previous is None:
            _TEST_PINS.pop(workload, None)
        else:
            _TEST_PINS[workload] = previous


def pins_for(workload: str) -> tuple[tuple[Pin, ...], PinnedBy]:
    """The pins in force for ``workload`` and who set them."""
    if workload in _TEST_PINS:
        return _TEST_PINS[workload], "test-hook"
    pins = PUBLISHED.get(workload, ())
    return pins, ("published" if pins else "none")


def file_digest(path: Path, algorithm: Algorithm) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_files(workload: str, given: Mapping[str, Path], absent_hint: str = "") -> DataCheck:
    """Check the files ``given`` (data-set name -> path on disk) against ``workload``'s pins.

    ``absent_hint`` explains, when a pinned file was not given, what the user gave instead.
    """
    read = {name: file_digest(path, "sha256") for name, path in given.items()}
    pins, pinned_by = pins_for(workload)
    if not pins:
        return DataCheck(
            False,
            "none",
            f"no checksum is published for {workload}'s evaluation files, so the data cannot "
            "be verified: non-reference data, scored for information only",
            read,
        )
    for pin in pins:
        path = given.get(pin.file)
        if path is None:
            hint = f" ({absent_hint})" if absent_hint else ""
            return DataCheck(
                False,
                pinned_by,
                f"{pin.file} was not read{hint}; its published {pin.algorithm} is the only "
                "way to verify the data: non-reference data, scored for information only",
                read,
            )
        got = read[pin.file] if pin.algorithm == "sha256" else file_digest(path, pin.algorithm)
        if got != pin.digest:
            return DataCheck(
                False,
                pinned_by,
                f"{path}: {pin.algorithm} {got} differs from the published {pin.digest} "
                f"({pin.source}): non-reference data, scored for information only",
                read,
            )
    names = ", ".join(f"{p.file} ({p.algorithm})" for p in pins)
    origin = (
        _TEST_SOURCE if pinned_by == "test-hook" else "; ".join(sorted({p.source for p in pins}))
    )
    return DataCheck(True, pinned_by, f"{names} match: {origin}", read)


def combined_sha256(files: Mapping[str, str]) -> str:
    """One sha256 over the files read: each one's name and sha256, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + bytes.fromhex(files[name]))
    return h.hexdigest()
