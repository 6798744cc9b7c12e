"""The bundled workloads, by name. Modules are imported only when a workload is asked for."""

from __future__ import annotations

import importlib

from benchmarks.base import Workload, WorkloadError

_WORKLOADS: dict[str, str] = {
    "vision-digits": "benchmarks.vision_digits:VisionDigits",
    "nlp-intent": "benchmarks.nlp_intent:NlpIntent",
    "anomaly-machine": "benchmarks.anomaly_machine:AnomalyMachine",
}

DEFAULT_WORKLOADS: tuple[str, ...] = tuple(_WORKLOADS)


def workload_names() -> list[str]:
    return list(_WORKLOADS)


def get_workload(name: str) -> Workload:
    try:
        target = _WORKLOADS[name]
    except KeyError:
        known = ", ".join(_WORKLOADS)
        raise WorkloadError(f"unknown workload {name!r}; known workloads: {known}") from None
    module_name, cls_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls()
