"""Meter selection: from a ``--meter`` spec and the run's device to an open-able Meter.

Each entry of ``METERS`` names a meter's config class; adding a meter is its module and one
line here. ``make_meter`` returns the meter and a fallback reason (None when the requested
meter was used). Honesty rules:
- ``auto`` tries the meters in the order of ``METERS`` whose ``detect`` says they apply to
  this device and machine, and uses the first; when it cannot be read, the ESTIMATED
  CodeCarbon CPU model is used instead, with the reason;
- an explicit request that cannot be met raises MeterError (asking for jetson on a PC is an
  error, not a silent estimate), except a sensor this user may not read
  (``SensorPermissionError``): the estimate is returned with the full one-line reason, which
  the CLI prints and records in ``meter.fallback_reason``.

Specs: auto, NAME, NAME:ARG (rapl:package, nvml:1, csv:PATH), and a sum of sensors read
over the same windows, NAME[:ARG]+NAME[:ARG] (nvml+rapl: boundary gpu+cpu-package).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ecoscore.errors import InputError, UsageError
from ecoscore.runners.meters.base import Meter, MeterConfig, MeterError, SensorPermissionError

#: Meter name -> "module:ConfigClass", in the order ``--meter auto`` tries them.
METERS: dict[str, str] = {
    "jetson": "ecoscore.runners.meters.jetson:JetsonConfig",
    "nvml": "ecoscore.runners.meters.nvml:NvmlConfig",
    "rpi": "ecoscore.runners.meters.raspberry_pi:RpiConfig",
    "rapl": "ecoscore.runners.meters.rapl:RaplConfig",
    "pyjoules": "ecoscore.runners.meters.pyjoules_meter:PyJoulesConfig",
    "joulescope": "ecoscore.runners.meters.joulescope_meter:JoulescopeConfig",
    "csv": "ecoscore.runners.meters.csv_log:CsvLogConfig",
    "estimate": "ecoscore.runners.meters.codecarbon_estimate:EstimateConfig",
    "sum": "ecoscore.runners.meters.composite:SumConfig",
}
#: The meter used when no sensor can be read: an ESTIMATE, labelled as such.
FALLBACK = "estimate"


def config_class(name: str) -> type[MeterConfig]:
    target = METERS.get(name)
    if target is None:
        specs = ", ".join(["auto", *METERS])
        raise MeterError(f"unknown meter {name!r}; choose one of: {specs}")
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


class MeterSpecError(UsageError, MeterError):
    """A ``--meter`` option names no meter this ecoscore has."""


class RecordedMeterError(InputError):
    """A meter config read from a record cannot be used here (an input file's fault)."""


def config_from_record(doc: dict[str, Any], source: str = "record") -> MeterConfig:
    """Rebuild a meter config stored in a record (``meter.config``), under the rules of a
    config read from a record (``MeterConfig``: no file the record names is opened)."""
    name = doc.get("meter")
    if not isinstance(name, str):
        raise RecordedMeterError(f"{source}: meter.config has no meter name")
    try:
        cls = config_class(name)
    except MeterError as e:
        raise RecordedMeterError(f"{source}: meter.config: {e}") from None
    try:
        return cls.model_validate(doc, context={"from_record": True})
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        where = f"meter.config.{key}" if key else "meter.config"
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise RecordedMeterError(f"{source}: {where}: {msg}") from None


def make_meter(
    spec: str, device: str = "cpu", *, boundary: str | None = None
) -> tuple[Meter, str | None]:
    """The meter for ``spec`` on ``device`` and the reason for a fallback (None if none).

    ``boundary`` declares where an external instrument (joulescope, csv) is wired.
    """
    parts = split_sum(spec)
    if len(parts) > 1:
        from ecoscore.runners.meters.composite import SumConfig

        for p in parts:
            _known(p.partition(":")[0].lower(), spec)
        config = SumConfig.from_parts(parts, device, boundary)
        try:
            return config.build(), None
        except SensorPermissionError as e:  # no estimate stands in for a part of a sum
            raise MeterError(f"--meter {spec}: a part cannot be read: {e}") from None
    name, sep, arg = spec.strip().partition(":")
    name = name.lower()
    if name == "auto":
        return _auto(device)
    _known(name, spec)
    if name == "sum":
        raise MeterSpecError(f"--meter {spec!r}: name the parts, e.g. --meter nvml+rapl")
    config = config_class(name).from_spec(arg if sep else None, device, boundary)
    return open_meter(config)


def split_sum(spec: str) -> list[str]:
    """The parts of a ``NAME[:ARG]+NAME[:ARG]`` spec. A ``+`` inside an argument
    (``rapl:package+dram``) stays in it: a part starts only where a meter name does."""
    parts: list[str] = []
    for token in spec.strip().split("+"):
        if parts and token.partition(":")[0].lower() not in METERS:
            parts[-1] += "+" + token
        else:
            parts.append(token)
    return parts


def _known(name: str, spec: str) -> None:
    if name not in METERS:
        specs = ", ".join(["auto", *METERS])
        raise MeterSpecError(f"--meter {spec!r}: unknown meter {name!r}; choose one of: {specs}")


def open_meter(config: MeterConfig) -> tuple[Meter, str | None]:
    """Build the meter ``config`` describes; a sensor this user may not read gives the
    ESTIMATE and the reason."""
    try:
        return config.build(), None
    except SensorPermissionError as e:
        reason = f"{config.meter} requested but not readable, using the ESTIMATE: {e}"
        return _fallback(), reason


def _auto(device: str) -> tuple[Meter, str | None]:
    for name in METERS:
        cls = config_class(name)
        config = cls.detect(device)
        if config is None:
            continue
        try:
            return config.build(), None
        except MeterError as e:
            return _fallback(), (
                f"{_no_sensor(str(e))}; using the CodeCarbon CPU ESTIMATE, which is not a "
                f"measurement of {cls.covers}"
            )
    return _fallback(), f"no energy sensor applies to device {device!r}; using the ESTIMATE"


def _fallback() -> Meter:
    return config_class(FALLBACK)().build()


def _no_sensor(message: str) -> str:
    prefix = "no readable energy sensor"
    return message if message.startswith(prefix) else f"{prefix}: {message}"


@dataclass(frozen=True)
class MeterAvailability:
    spec: str
    available: bool
    measurement: str  # MEASURED | ESTIMATED
    description: str


def available_meters() -> list[MeterAvailability]:
    """What this machine offers, one line per meter, for `ecoscore meters`."""
    rows = []
    for name in METERS:
        ok, line = config_class(name).status()
        spec = {"csv": "csv:PATH", "sum": "METER+METER"}.get(name, name)
        kind = "ESTIMATED" if name == FALLBACK else "MEASURED"
        rows.append(MeterAvailability(spec, ok, kind, line))
    return rows
