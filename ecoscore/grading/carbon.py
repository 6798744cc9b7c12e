"""Grid carbon intensity of a declared country, from CodeCarbon's bundled offline data.

The figure is read from ``codecarbon/data/private_infra/global_energy_mix.json`` in the
installed package (field ``carbon_intensity``, gCO2e per kWh of electricity generated, per
ISO 3166-1 alpha-3 code, with the data year in ``year``). CodeCarbon compiles that file from
Our World in Data's energy dataset (itself from Ember and the Energy Institute). Nothing is
fetched from the network, and codecarbon itself is not imported.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ecoscore.errors import UsageError

DEFAULT_LOCATION = "FRA"
ENERGY_MIX_RELPATH = ("data", "private_infra", "global_energy_mix.json")
J_PER_KWH = 3.6e6
_ISO3_RE = re.compile(r"^[A-Z]{3}$")


class CarbonDataError(UsageError):
    """The grid-intensity data cannot be read or has no figure for the location."""


@dataclass(frozen=True)
class GridIntensity:
    iso3: str
    country: str
    g_co2e_per_kwh: float
    year: int | None
    source: str

    def g_co2e_for_joules(self, joules: float) -> float:
        return joules / J_PER_KWH * self.g_co2e_per_kwh


def energy_mix_path() -> Path:
    """The bundled global_energy_mix.json of the installed codecarbon package."""
    spec = importlib.util.find_spec("codecarbon")
    if spec is None or not spec.submodule_search_locations:
        raise CarbonDataError("codecarbon is not installed: its offline grid data is needed")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*ENERGY_MIX_RELPATH)
    if not path.is_file():
        raise CarbonDataError(f"{path}: missing from the installed codecarbon package")
    return path


@lru_cache(maxsize=4)
def _load_mix(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise CarbonDataError(f"{path}: cannot read: {e}") from None
    if not isinstance(doc, dict):
        raise CarbonDataError(f"{path}: not a JSON object keyed by country code")
    return doc


@lru_cache(maxsize=1)
def _codecarbon_version() -> str:
    try:
        return importlib.metadata.version("codecarbon")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@lru_cache(maxsize=64)
def grid_intensity(location: str = DEFAULT_LOCATION, path: Path | None = None) -> GridIntensity:
    """Carbon intensity of electricity in ``location`` (ISO 3166-1 alpha-3, e.g. FRA); read
    once per location and file (a comparison computes it for every record)."""
    iso3 = location.strip().upper()
    if not _ISO3_RE.match(iso3):
        raise CarbonDataError(
            f"location {location!r} is not an ISO 3166-1 alpha-3 country code (e.g. FRA, DEU)"
        )
    path = path or energy_mix_path()
    mix = _load_mix(path)
    entry = mix.get(iso3)
    if not isinstance(entry, dict):
        raise CarbonDataError(f"{path}: no country {iso3!r} (the file has {len(mix)} countries)")
    value = entry.get("carbon_intensity")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CarbonDataError(f"{path}: {iso3}.carbon_intensity is missing or not a number")
    year = entry.get("year")
    return GridIntensity(
        iso3=iso3,
        country=str(entry.get("country_name", iso3)),
        g_co2e_per_kwh=float(value),
        year=int(year) if isinstance(year, int) else None,
        source=(
            f"CodeCarbon {_codecarbon_version()} offline data global_energy_mix.json "
            f"(Our World in Data energy mix{f', {year}' if year else ''})"
        ),
    )
