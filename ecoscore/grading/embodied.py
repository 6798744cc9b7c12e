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
from pathlib import Path
from typing import Any, Literal

from ecoscore.files import read_toml

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
DEFAULT_TABLE_VERSION = "2026.1"
SECONDS_PER_YEAR = 365.25 * 24 * 3600
_STATUSES = ("published", "proxy", "none")
_KINDS = ("cpu", "gpu", "board")
_VERSION_RE = re.compile(r"^\d{4}\.\d{1,3}$")


class EmbodiedDataError(Exception):
    """The embodied table is missing or invalid; the message names the file and the field."""


@dataclass(frozen=True)
class DeviceFootprint:
    id: str
    kind: Literal["cpu", "gpu", "board"]
    name: str
    pattern: re.Pattern[str]
    footprint_status: Literal["published", "proxy", "none"]
    kgco2e: float | None
    footprint_source: str
    lifetime_years: float
    lifetime_source: str

    def matches(self, kind: str, device_name: str) -> bool:
        return kind == self.kind and self.pattern.search(device_name) is not None


@dataclass(frozen=True)
class EmbodiedTable:
    version: str
    path: Path
    devices: tuple[DeviceFootprint, ...]

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
    path = Path(path)
    doc = read_toml(path, EmbodiedDataError)
    head = doc.get("table")
    if not isinstance(head, dict) or not isinstance(head.get("version"), str):
        raise EmbodiedDataError(f"{path}: missing field 'table.version'")
    entries = doc.get("devices")
    if not isinstance(entries, list) or not entries:
        raise EmbodiedDataError(f"{path}: missing [[devices]] entries")
    devices = tuple(_parse_device(e, f"{path}: devices[{i}]") for i, e in enumerate(entries))
    ids = [d.id for d in devices]
    if len(set(ids)) != len(ids):
        raise EmbodiedDataError(f"{path}: duplicate device ids in {ids}")
    return EmbodiedTable(version=head["version"], path=path, devices=devices)


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EmbodiedDataError(f"{where}.{key}: missing or not text")
    return " ".join(value.split())


def _positive(entry: dict[str, Any], key: str, where: str) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise EmbodiedDataError(f"{where}.{key}: expected a positive number, got {value!r}")
    return float(value)


def _parse_device(entry: Any, where: str) -> DeviceFootprint:
    if not isinstance(entry, dict):
        raise EmbodiedDataError(f"{where}: expected a table")
    kind = _text(entry, "kind", where)
    if kind not in _KINDS:
        raise EmbodiedDataError(f"{where}.kind: {kind!r} is not one of {', '.join(_KINDS)}")
    status = _text(entry, "footprint_status", where)
    if status not in _STATUSES:
        raise EmbodiedDataError(
            f"{where}.footprint_status: {status!r} is not one of {', '.join(_STATUSES)}"
        )
    if status == "none":
        if "kgco2e" in entry:
            raise EmbodiedDataError(f"{where}.kgco2e: given, but footprint_status is 'none'")
        kg = None
    else:
        kg = _positive(entry, "kgco2e", where)
    try:
        pattern = re.compile(_text(entry, "match", where), re.IGNORECASE)
    except re.error as e:
        raise EmbodiedDataError(f"{where}.match: bad regular expression: {e}") from None
    return DeviceFootprint(
        id=_text(entry, "id", where),
        kind=kind,  # type: ignore[arg-type]
        name=_text(entry, "name", where),
        pattern=pattern,
        footprint_status=status,  # type: ignore[arg-type]
        kgco2e=kg,
        footprint_source=_text(entry, "footprint_source", where),
        lifetime_years=_positive(entry, "lifetime_years", where),
        lifetime_source=_text(entry, "lifetime_source", where),
    )


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
