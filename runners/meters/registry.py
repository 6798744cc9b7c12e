"""Meter selection: from a ``--meter`` spec and the run's device to an open-able Meter.

``make_meter`` returns the meter and a fallback reason (None when the requested meter was
used). Honesty rules:
- "auto" picks the best MEASURED source for the device and otherwise falls back to the
  ESTIMATED CodeCarbon CPU model, returning why;
- an explicit request that cannot be met raises MeterError (asking for jetson on a PC is an
  error, not a silent estimate), except a RAPL permission problem: the estimate is returned
  with the full one-line reason, which the CLI prints and records in meter.fallback_reason.

Specs: auto, rapl[:package|package+dram|psys], nvml[:INDEX], jetson, rpi, pyjoules,
joulescope, csv:PATH, estimate.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass

from ecoscore.runners.meters.base import Meter, MeterError
from ecoscore.runners.meters.codecarbon_estimate import CodeCarbonCpuEstimate
from ecoscore.runners.meters.csv_log import CsvPowerLogMeter
from ecoscore.runners.meters.jetson import JetsonMeter, is_jetson, jetson_status
from ecoscore.runners.meters.joulescope_meter import JoulescopeMeter
from ecoscore.runners.meters.nvml import cuda_index_to_nvml, nvml_status, open_nvml_meter
from ecoscore.runners.meters.pyjoules_meter import PyJoulesMeter
from ecoscore.runners.meters.rapl import DOMAIN_SETS, RaplMeter, RaplPermissionError, rapl_status
from ecoscore.runners.meters.raspberry_pi import RaspberryPiPmicMeter, is_raspberry_pi_5, rpi_status

SPECS = (
    "auto",
    "rapl",
    "nvml",
    "jetson",
    "rpi",
    "pyjoules",
    "joulescope",
    "csv:PATH",
    "estimate",
)

_CUDA_RE = re.compile(r"^cuda(?::(\d+))?$")


def _cuda_index(device: str) -> int | None:
    """The CUDA index of a "cuda"/"cuda:N" device, None for any other device."""
    m = _CUDA_RE.match(device.strip().lower())
    if not m:
        return None
    return int(m.group(1) or 0)


def _estimate() -> Meter:
    return CodeCarbonCpuEstimate()


def _make_auto(device: str) -> tuple[Meter, str | None]:
    if is_jetson():
        try:
            return JetsonMeter(), None
        except MeterError as e:
            return _estimate(), f"{_no_sensor(str(e))} on this Jetson board; using the ESTIMATE"
    cuda = _cuda_index(device)
    if cuda is not None:
        index = cuda_index_to_nvml(cuda)
        try:
            return open_nvml_meter(index), None
        except MeterError as e:
            return _estimate(), (
                f"no readable GPU energy sensor for {device} ({e}); "
                "falling back to the CPU-package ESTIMATE, which does not cover the GPU"
            )
    if is_raspberry_pi_5():
        try:
            return RaspberryPiPmicMeter(), None
        except MeterError as e:
            return _estimate(), f"Raspberry Pi 5 PMIC not readable ({e}); using the ESTIMATE"
    try:
        return RaplMeter(), None
    except MeterError as e:
        return _estimate(), f"{_no_sensor(str(e))}; using the CodeCarbon CPU ESTIMATE"


def _no_sensor(message: str) -> str:
    prefix = "no readable energy sensor"
    return message if message.startswith(prefix) else f"{prefix}: {message}"


def _make_rapl(arg: str | None) -> tuple[Meter, str | None]:
    domains = arg or "auto"
    if domains not in DOMAIN_SETS:
        raise MeterError(f"unknown RAPL domain set {domains!r}: use rapl[:{'|'.join(DOMAIN_SETS)}]")
    try:
        return RaplMeter(domains=domains), None
    except RaplPermissionError as e:
        return _estimate(), f"rapl requested but not readable, using the ESTIMATE: {e}"


def _make_nvml(arg: str | None, device: str) -> Meter:
    if arg is not None:
        if not arg.isdigit():
            raise MeterError(f"nvml:INDEX needs an integer GPU index, got {arg!r}")
        return open_nvml_meter(int(arg))
    cuda = _cuda_index(device)
    return open_nvml_meter(cuda_index_to_nvml(cuda) if cuda is not None else 0)


def make_meter(
    spec: str, device: str = "cpu", *, boundary: str | None = None
) -> tuple[Meter, str | None]:
    """The meter for ``spec`` on ``device`` and the reason for a fallback (None if none).

    ``boundary`` declares where an external instrument (joulescope, csv) is wired.
    """
    spec = spec.strip()
    name, _, arg = spec.partition(":")
    name = name.lower()
    arg_or_none = arg or None
    if name == "auto":
        return _make_auto(device)
    if name == "estimate":
        return _estimate(), None
    if name == "rapl":
        return _make_rapl(arg_or_none)
    if name == "nvml":
        return _make_nvml(arg_or_none, device), None
    if name == "jetson":
        return JetsonMeter(), None
    if name == "rpi":
        return RaspberryPiPmicMeter(), None
    if name == "pyjoules":
        return PyJoulesMeter(), None
    if name == "joulescope":
        return JoulescopeMeter(boundary=boundary), None
    if name == "csv":
        if not arg:
            raise MeterError("csv meter needs a path: --meter csv:PATH")
        return CsvPowerLogMeter(arg, boundary=boundary), None
    raise MeterError(f"unknown meter {spec!r}; choose one of: {', '.join(SPECS)}")


@dataclass(frozen=True)
class MeterAvailability:
    spec: str
    available: bool
    measurement: str  # MEASURED | ESTIMATED
    description: str


def _module_line(module: str, package: str, what: str) -> tuple[bool, str]:
    if importlib.util.find_spec(module) is None:
        return False, f"{what}: not installed (pip install {package})"
    return True, f"{what}: {package} installed"


def available_meters() -> list[MeterAvailability]:
    """What this machine offers, one line per meter, for `ecoscore meters`."""
    rows: list[MeterAvailability] = []
    for spec, status in (
        ("rapl", rapl_status),
        ("nvml", nvml_status),
        ("jetson", jetson_status),
        ("rpi", rpi_status),
    ):
        ok, line = status()
        rows.append(MeterAvailability(spec, ok, "MEASURED", line))
    ok, line = _module_line("pyJoules", "pyJoules", "pyJoules RAPL backend")
    rows.append(MeterAvailability("pyjoules", ok, "MEASURED", line))
    ok, line = _module_line("joulescope", "joulescope", "Joulescope driver")
    rows.append(MeterAvailability("joulescope", ok, "MEASURED", line + " (instrument not probed)"))
    rows.append(
        MeterAvailability(
            "csv:PATH",
            True,
            "MEASURED",
            "external instrument's power log (timestamp, power_w or voltage_v+current_a)",
        )
    )
    rows.append(
        MeterAvailability(
            "estimate", True, "ESTIMATED", "CodeCarbon offline CPU model (TDP x load), not a sensor"
        )
    )
    return rows
