"""The embodied (manufacturing) footprint of the hardware at the meter's boundary.

The table ``ecoscore/data/embodied_<version>.toml`` gives, for a few devices and device
classes, a footprint in kg CO2e, a service lifetime and the source of each figure. The
footprint is spread over the lifetime by active time: one inference that keeps the device
busy for t seconds carries footprint x t / lifetime. A device that is not in the table, or
that is in it without a published figure, is UNKNOWN, never zero.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ecoscore.errors import InputError
from ecoscore.files import toml_model

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
DEFAULT_TABLE_VERSION = "2026.1"
SECONDS_PER_YEAR = 365.25 * 24 * 3600
_VERSION_RE = re.compile(r"^\d{4}\.\d{1,3}$")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class EmbodiedDataError(InputError):
    """The embodied table is missing or invalid; the message names the file and the field."""


class DeviceFootprint(BaseModel):
    """One ``[[devices]]`` entry of the table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Text
    kind: Literal["cpu", "gpu", "board"]
    name: Text
    match: Text
    footprint_status: Literal["published", "proxy", "none"]
    kgco2e: float | None = Field(default=None, gt=0, allow_inf_nan=False, strict=True)
    footprint_source: Text
    lifetime_years: float = Field(gt=0, allow_inf_nan=False, strict=True)
    lifetime_source: Text

    @model_validator(mode="after")
    def _figure_follows_status(self) -> DeviceFootprint:
        if self.footprint_status == "none" and self.kgco2e is not None:
            raise ValueError("kgco2e is given, but footprint_status is 'none'")
        if self.footprint_status != "none" and self.kgco2e is None:
            raise ValueError(f"kgco2e is missing (footprint_status is {self.footprint_status!r})")
        try:
            re.compile(self.match)
        except re.error as e:
            raise ValueError(f"match: bad regular expression: {e}") from None
        return self

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.match, re.IGNORECASE)

    def matches(self, kind: str, device_name: str) -> bool:
        return kind == self.kind and self.pattern.search(device_name) is not None


class _TableHead(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[str, StringConstraints(pattern=r"^\d{4}\.\d{1,3}$")]
    unit: str = ""


class EmbodiedTable(BaseModel):
    """The whole file: ``[table]`` and at least one ``[[devices]]``, ids unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: _TableHead
    devices: tuple[DeviceFootprint, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> EmbodiedTable:
        ids = [d.id for d in self.devices]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate device ids in {ids}")
        return self

    @property
    def version(self) -> str:
        return self.table.version

    def match(self, kind: str, device_name: str) -> DeviceFootprint | None:
        return next((d for d in self.devices if d.matches(kind, device_name)), None)


@dataclass(frozen=True)
class EmbodiedShare:
    """The embodied share per 1,000 inferences, or why it is unknown."""

    known: bool
    g_co2e_per_1000: float | None
    device_name: str
    entry: DeviceFootprint | None
    active_s_per_inference: float | None
    reason: str | None  # why unknown
    table_version: str

    @property
    def source(self) -> str:
        if self.entry is None:
            return f"embodied table {self.table_version}: device not listed"
        kg = f"{self.entry.kgco2e:g} kg CO2e" if self.entry.kgco2e is not None else "no figure"
        return (
            f"embodied table {self.table_version}: {self.entry.name}, {kg} "
            f"({self.entry.footprint_status}), lifetime {self.entry.lifetime_years:g} y"
        )


def load_embodied_table(
    version: str = DEFAULT_TABLE_VERSION, path: Path | None = None
) -> EmbodiedTable:
    if path is None:
        if not _VERSION_RE.match(version):
            raise EmbodiedDataError(f"embodied table version {version!r} is not YYYY.N")
        path = DATA_DIR / f"embodied_{version}.toml"
    return toml_model(Path(path), EmbodiedTable, EmbodiedDataError, "embodied table")


def embodied_share(
    table: EmbodiedTable, kind: str, device_name: str, active_s_per_inference: float | None
) -> EmbodiedShare:
    """Embodied g CO2e per 1,000 inferences, allocated by active time over the lifetime."""
    entry = table.match(kind, device_name)

    def unknown(reason: str) -> EmbodiedShare:
        return EmbodiedShare(
            known=False,
            g_co2e_per_1000=None,
            device_name=device_name,
            entry=entry,
            active_s_per_inference=active_s_per_inference,
            reason=reason,
            table_version=table.version,
        )

    if entry is None:
        return unknown(f"{kind} {device_name!r} is not in embodied table {table.version}")
    if entry.kgco2e is None:
        return unknown(f"{entry.name}: {entry.footprint_source}")
    if active_s_per_inference is None or not active_s_per_inference > 0:
        return unknown("the record gives no active time per inference")
    lifetime_s = entry.lifetime_years * SECONDS_PER_YEAR
    grams = entry.kgco2e * 1000.0 * active_s_per_inference * 1000.0 / lifetime_s
    return EmbodiedShare(
        known=True,
        g_co2e_per_1000=grams,
        device_name=device_name,
        entry=entry,
        active_s_per_inference=active_s_per_inference,
        reason=None,
        table_version=table.version,
    )
