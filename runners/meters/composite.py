"""A sum of meters: several sensors read over the same windows, their joules added, so that
a GPU run can count its host CPU too (``--meter nvml+rapl``: boundary ``gpu+cpu-package``).

Rules this module enforces:
- every part is a sensor ecoscore reads itself: an estimate or an external instrument's log
  is refused as a part (a sum would present an estimate or a self-reported log as MEASURED);
- no two parts read the same sensor family (RAPL twice, or RAPL and pyJoules, which reads
  RAPL, would count the CPU twice); NVML parts must name different GPUs;
- the boundary is the parts' boundaries joined with ``+`` in the order given;
- a window is valid only when every part's window is; it spans the fewest updates any part
  observed, and its stated uncertainty is the largest of the parts' (a sum's relative error
  is at most its largest part's);
- each window keeps every part's energy, updates and details (NVML's GPU state included),
  so that a reader can re-check the sum.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any, ClassVar, Literal

from pydantic import Field, SerializeAsAny, ValidationInfo, field_validator

from ecoscore.runners.meters.base import (
    Measurement,
    Meter,
    MeterConfig,
    MeterError,
    MeterInfo,
    WindowReading,
)

#: Meters that read the same sensor: at most one of a family in a sum.
SENSOR_FAMILIES: dict[str, str] = {"rapl": "rapl", "pyjoules": "rapl"}


class SumConfig(MeterConfig):
    """the sum of several MEASURED sensors over the same windows (e.g. nvml+rapl)"""

    covers: ClassVar[str] = "the parts' boundaries together"

    meter: Literal["sum"] = "sum"
    parts: tuple[SerializeAsAny[MeterConfig], ...] = Field(min_length=2)

    @field_validator("parts", mode="before")
    @classmethod
    def _configs(cls, value: Any, info: ValidationInfo) -> Any:
        from ecoscore.runners.meters.registry import config_class

        if not isinstance(value, list | tuple):
            return value
        out = []
        for i, part in enumerate(value):
            if isinstance(part, dict):
                name = part.get("meter")
                if not isinstance(name, str):
                    raise ValueError(f"part {i + 1} names no meter")
                if name == "sum":
                    raise ValueError(f"part {i + 1} is itself a sum")
                part = config_class(name).model_validate(part, context=info.context)
            out.append(part)
        return tuple(out)

    @field_validator("parts")
    @classmethod
    def _sensors_only(cls, parts: tuple[MeterConfig, ...]) -> tuple[MeterConfig, ...]:
        families: dict[str, MeterConfig] = {}
        for p in parts:
            kind = type(p)
            if kind.estimates:
                raise ValueError(f"{p.meter} is an estimate, not a sensor: it cannot be a part")
            if kind.reads_external_log:
                raise ValueError(
                    f"{p.meter} reads an external instrument's log: it cannot be a part"
                )
            if isinstance(p, SumConfig):
                raise ValueError("a sum cannot be a part of a sum")
            family = SENSOR_FAMILIES.get(p.meter, p.meter)
            seen = families.get(family)
            if seen is not None and (p.meter != "nvml" or seen == p):
                raise ValueError(
                    f"{seen.meter} and {p.meter} read the same sensor: the sum would count it twice"
                )
            families[family] = p
        return parts

    @classmethod
    def from_parts(cls, specs: list[str], device: str, boundary: str | None) -> SumConfig:
        from ecoscore.runners.meters.registry import config_class

        configs = []
        for spec in specs:
            name, sep, arg = spec.partition(":")
            configs.append(config_class(name).from_spec(arg if sep else None, device, boundary))
        try:
            return cls(parts=tuple(configs))
        except ValueError as e:
            raise MeterError(f"--meter {'+'.join(specs)}: {_first_error(e)}") from None

    @classmethod
    def status(cls) -> tuple[bool, str]:
        return True, "sum of MEASURED sensors over the same windows, e.g. nvml+rapl"

    @classmethod
    def boundary_allowed(cls, config: dict[str, Any], boundary: str) -> bool:
        """The parts' possible boundaries joined with ``+`` in their order."""
        from ecoscore.runners.meters.registry import config_class

        choices = []
        for part in config.get("parts") or []:
            try:
                kind = config_class(str(part.get("meter")))
            except (MeterError, AttributeError):
                return False
            if kind.boundaries is None:
                return True  # an instrument wired where the user says
            choices.append(kind.boundaries)
        return any("+".join(c) == boundary for c in itertools.product(*choices))

    def build(self) -> SumMeter:
        return SumMeter([p.build() for p in self.parts], self)


def _first_error(e: ValueError) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        first = errors()[0]
        return str(first["msg"]).removeprefix("Value error, ")
    return str(e)


class SumMeter(Meter):
    """Energy MEASURED by several sensors over the same windows, added."""

    def __init__(self, parts: list[Meter], config: SumConfig) -> None:
        super().__init__()
        if any(p.info.measurement is not Measurement.MEASURED for p in parts):
            raise MeterError("every part of a sum must be a MEASURED sensor")
        self.parts = parts
        self._config = config
        periods = [p.info.sampling_period_s for p in parts if p.info.sampling_period_s]
        self.info = MeterInfo(
            name="+".join(p.info.name for p in parts),
            source="; ".join(p.info.source for p in parts),
            boundary="+".join(p.info.boundary for p in parts),
            measurement=Measurement.MEASURED,
            sampling_period_s=max(periods) if periods else None,
            uncertainty_rel=max(p.info.uncertainty_rel for p in parts),
            details={
                "parts": [
                    {
                        "name": p.info.name,
                        "source": p.info.source,
                        "boundary": p.info.boundary,
                        "sampling_period_s": p.info.sampling_period_s,
                        "uncertainty_rel": p.info.uncertainty_rel,
                        **p.info.details,
                    }
                    for p in parts
                ],
                "sum": "each window's energy is the sum of the parts' energies over it",
            },
        )

    @property
    def config(self) -> SumConfig:
        return self._config

    def start(self) -> None:
        started: list[Meter] = []
        try:
            for p in self.parts:
                p.start()
                started.append(p)
        except BaseException:
            for p in reversed(started):
                with contextlib.suppress(Exception):
                    p.close()
            raise

    def close(self) -> None:
        errors = []
        for p in reversed(self.parts):
            try:
                p.close()
            except Exception as e:  # close every part, then report the first failure
                errors.append(e)
        if errors:
            raise errors[0]

    def observation_period_s(self) -> float | None:
        periods = [x for p in self.parts if (x := p.observation_period_s()) is not None]
        return max(periods) if periods else None

    def external_log(self) -> tuple[str, int] | None:
        return None

    def _begin(self) -> None:
        opened: list[Meter] = []
        try:
            for p in self.parts:
                p.begin_window()
                opened.append(p)
        except BaseException:
            for p in opened:  # leave no part with a window open
                with contextlib.suppress(Exception):
                    p.end_window()
            raise

    def _end(self, duration_s: float) -> WindowReading:
        readings = [p.end_window() for p in self.parts]
        updates = [r.sensor_updates for r in readings if r.sensor_updates is not None]
        bad = [
            f"{p.info.name}: {r.invalid_reason or 'invalid'}"
            for p, r in zip(self.parts, readings, strict=True)
            if not r.valid
        ]
        details: dict[str, object] = {
            "parts": [
                {
                    "name": p.info.name,
                    "boundary": p.info.boundary,
                    "energy_j": r.energy_j,
                    "duration_s": r.duration_s,
                    "sensor_updates": r.sensor_updates,
                    "valid": r.valid,
                    **r.details,
                }
                for p, r in zip(self.parts, readings, strict=True)
            ]
        }
        return WindowReading(
            energy_j=sum(r.energy_j for r in readings),
            duration_s=duration_s,
            sensor_updates=min(updates) if updates else None,
            valid=not bad,
            invalid_reason="; ".join(bad) if bad else None,
            details=details,
        )
