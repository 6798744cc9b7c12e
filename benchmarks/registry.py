"""The bundled workloads, by name. Modules are imported only when a workload is asked for."""

from __future__ import annotations

import importlib
from pathlib import Path

from ecoscore.benchmarks.base import Workload, WorkloadInfo
from ecoscore.benchmarks.errors import WorkloadError

_WORKLOADS: dict[str, str] = {
    "vision-digits": "ecoscore.benchmarks.vision_digits:VisionDigits",
    "nlp-intent": "ecoscore.benchmarks.nlp_intent:NlpIntent",
    "anomaly-machine": "ecoscore.benchmarks.anomaly_machine:AnomalyMachine",
}
#: Workloads over a public data set that the user has on disk (``--data PATH``).
_USER_DATA_WORKLOADS: dict[str, str] = {
    "tiny-ic": "ecoscore.benchmarks.tiny_ic:TinyIc",
    "tiny-kws": "ecoscore.benchmarks.tiny_kws:TinyKws",
    "tiny-vww": "ecoscore.benchmarks.tiny_vww:TinyVww",
    "tiny-ad": "ecoscore.benchmarks.tiny_ad:TinyAd",
    "nlp-text-csv": "ecoscore.benchmarks.text_csv:TextCsv",
    "anomaly-wav": "ecoscore.benchmarks.wav_folder:WavFolderAnomaly",
}

DEFAULT_WORKLOADS: tuple[str, ...] = tuple(_WORKLOADS)


def workload_names(user_data: bool = False) -> list[str]:
    return list(_WORKLOADS) + (list(_USER_DATA_WORKLOADS) if user_data else [])


def workload_class(name: str) -> type[Workload]:
    """The class of workload ``name`` (its ``info`` is readable without any data)."""
    target = _WORKLOADS.get(name) or _USER_DATA_WORKLOADS.get(name)
    if target is None:
        known = ", ".join(workload_names(user_data=True))
        raise WorkloadError(f"unknown workload {name!r}; known workloads: {known}")
    module_name, cls_name = target.split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def workload_info(name: str) -> WorkloadInfo | None:
    """The installed definition of workload ``name`` (None when it is not installed), read
    without loading any data: what verify compares a record against."""
    try:
        return workload_class(name).info
    except WorkloadError:
        return None


def needs_data(name: str) -> bool:
    """Whether a workload reads a data set the user has (``--data PATH``)."""
    return name in _USER_DATA_WORKLOADS


def get_workload(name: str, data: Path | None = None) -> Workload:
    """A bundled workload by name, or a user-data workload reading ``data``."""
    if name in _WORKLOADS:
        if data is not None:
            raise WorkloadError(
                f"{name} uses its bundled data; --data is for: {', '.join(_USER_DATA_WORKLOADS)}"
            )
        return workload_class(name)()
    if name in _USER_DATA_WORKLOADS and data is None:
        raise WorkloadError(f"{name} reads a data set you have on disk: give --data PATH")
    cls = workload_class(name)
    return cls(Path(data))  # type: ignore[call-arg]
