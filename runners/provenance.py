"""Where a record came from: versions, platform, command line, seeds, times."""

from __future__ import annotations

import platform
import sys
from datetime import UTC, datetime
from importlib import metadata

from ecoscore.record import Provenance
from ecoscore.runners.host import sysfs_root

_PACKAGES = (
    "ecoscore",
    "numpy",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "torch",
    "scikit-learn",
    "pydantic",
    "codecarbon",
    "nvidia-ml-py",
    "tensorrt",
    "pyJoules",
    "joulescope",
)


def package_versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def make_provenance(
    started_utc: str, seeds: dict[str, int], notes: str | None = None, argv: list[str] | None = None
) -> Provenance:
    pk = package_versions()
    return Provenance(
        ecoscore_version=pk.get("ecoscore", "unknown"),
        command_line=list(sys.argv if argv is None else argv),
        started_utc=started_utc,
        finished_utc=utc_now(),
        python=platform.python_version(),
        os=platform.platform(),
        packages=pk,
        seeds=seeds,
        notes=notes,
        sysfs_root=sysfs_root(),
    )
