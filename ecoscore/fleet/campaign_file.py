"""The campaign file (TOML) and the entries it expands to.

A campaign file names the campaign (its results go to ``results/campaigns/<name>/``), its
device classes and its entries::

    schema_version = "1.0"
    name = "digits-on-boards"

    [devices.jetson-orin-nx]          # a device class: nodes started with
    engine_device = "cuda:0"          # `ecoscore node start --device jetson-orin-nx`
    [devices.x86-rapl]                # engine_device = "cpu", meter = "auto" by default

    [defaults]                        # optional; any entry may override them
    repeats = 3
    settings = { threads = 1 }

    [[entries]]
    workload = "vision-digits"
    models = ["reference", "baseline", "models/mine.onnx"]   # paths: from this file's folder
    quick = true
    devices = ["x86-rapl"]            # default: every device class
    replicates = 1                    # independent runs of the same entry

An entry runs once per model, device class and replicate. For a workload that reads a data
set from disk, ``data`` names the file or folder; it is sent to the nodes by content.

Rules enforced here:
- the file is validated by a pydantic model with a ``schema_version``; the first problem is
  one line naming the file and the key (``entries.0.models``);
- everything that can be checked on the driver is checked before anything runs: workloads,
  model files, engine settings (validated by the engine's typed config), data files;
- an entry is identified by the hash of its content (workload, data, model bytes, engine
  and settings, repeats, quick, device class, meter, replicate), never by its position in
  the file: reordering or adding entries keeps the identity of the others, and the same
  entry written twice runs once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ecoscore.errors import EcoscoreError
from ecoscore.files import toml_model
from ecoscore.fleet.blobs import BlobRef, blob_of
from ecoscore.fleet.errors import CampaignFileError

SCHEMA_VERSION = "1.0"
#: Names of campaigns and device classes: they become folder names and Ray resources.
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
#: The models of an entry that are not paths: the workload's shipped models.
SHIPPED_MODELS = ("reference", "baseline")


class _Toml(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceClass(_Toml):
    """How entries run on the nodes of one device class."""

    engine_device: str = "cpu"  # the engine's --device: cpu, cuda:0
    meter: str = "auto"  # the --meter spec on the node
    boundary: str | None = None  # where an external instrument is wired (csv, joulescope)


class EntryDefaults(_Toml):
    engine: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    repeats: int | None = Field(default=None, ge=1)
    quick: bool = False


class CampaignEntry(_Toml):
    workload: str = Field(min_length=1)
    data: str | None = None
    models: list[str] = Field(default_factory=lambda: ["reference"], min_length=1)
    engine: str | None = None
    settings: dict[str, Any] | None = None
    repeats: int | None = Field(default=None, ge=1)
    quick: bool | None = None
    devices: list[str] | None = Field(default=None, min_length=1)
    replicates: int = Field(default=1, ge=1, le=1000)


class CampaignFile(_Toml):
    schema_version: str
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    devices: dict[str, DeviceClass] = Field(min_length=1)
    defaults: EntryDefaults = EntryDefaults()
    entries: list[CampaignEntry] = Field(min_length=1)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: str) -> str:
        if v != SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {v!r} is not supported (this ecoscore reads {SCHEMA_VERSION!r})"
            )
        return v

    @field_validator("devices")
    @classmethod
    def _device_names(cls, v: dict[str, DeviceClass]) -> dict[str, DeviceClass]:
        import re

        for name in v:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(
                    f"device class {name!r}: use lower-case letters, digits, '.', '_' and '-'"
                )
        return v

    @model_validator(mode="after")
    def _entry_devices_are_declared(self) -> CampaignFile:
        for i, e in enumerate(self.entries):
            unknown = [d for d in e.devices or [] if d not in self.devices]
            if unknown:
                raise ValueError(
                    f"entries.{i}.devices: {', '.join(map(repr, unknown))} is not a device "
                    f"class of this file (declared: {', '.join(self.devices)})"
                )
        return self


class EntrySpec(_Toml):
    """One entry as a node runs it: everything it needs, and nothing of the driver's disk."""

    campaign: str
    entry: str  # the entry hash
    device_class: str
    workload: str
    data: BlobRef | None
    model: BlobRef
    model_name: str  # for display; the record names the model as the node resolves it
    model_role: str
    engine: str
    engine_settings: dict[str, Any]
    engine_device: str
    meter: str
    boundary: str | None
    repeats: int | None
    quick: bool
    replicate: int
    notes: str
    argv: list[str]

    @property
    def label(self) -> str:
        rep = f" #{self.replicate + 1}" if self.replicate else ""
        return f"{self.workload} / {self.model_name}{rep}"


def entry_hash(identity: dict[str, Any]) -> str:
    body = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class PlannedEntry:
    spec: EntrySpec
    model_path: Path  # on the driver
    data_path: Path | None


@dataclass(frozen=True)
class CampaignPlan:
    source: Path
    file_sha256: str
    campaign: CampaignFile
    entries: list[PlannedEntry]
    duplicates: int  # entries written more than once in the file (each runs once)

    @property
    def name(self) -> str:
        return self.campaign.name

    def by_class(self) -> dict[str, list[PlannedEntry]]:
        out: dict[str, list[PlannedEntry]] = {c: [] for c in self.campaign.devices}
        for e in self.entries:
            out[e.spec.device_class].append(e)
        return out


def load_campaign(path: Path) -> CampaignFile:
    return toml_model(path, CampaignFile, CampaignFileError, "campaign file")


def plan_campaign(path: Path, quick: bool = False, argv: list[str] | None = None) -> CampaignPlan:
    """Read and check a campaign file and expand it into entries (``quick`` makes every
    entry a quick run). Raises CampaignFileError naming the file and the entry."""
    from ecoscore.files import file_sha256
    from ecoscore.results import campaign_note

    path = Path(path)
    campaign = load_campaign(path)
    base = path.resolve().parent
    planned: dict[str, PlannedEntry] = {}
    written = 0
    for i, entry in enumerate(campaign.entries):
        where = f"{path}: entries.{i}"
        try:
            for model_path, model_name, role, engine, data_path, settings in _models_of(
                entry, campaign.defaults, base
            ):
                model_blob = blob_of(model_path)
                data_blob = blob_of(data_path) if data_path is not None else None
                d = campaign.defaults
                repeats = entry.repeats if entry.repeats is not None else d.repeats
                is_quick = quick or (entry.quick if entry.quick is not None else d.quick)
                for cls in entry.devices or list(campaign.devices):
                    dc = campaign.devices[cls]
                    _check_engine(engine, dc.engine_device, settings)
                    for rep in range(entry.replicates):
                        identity = {
                            "workload": entry.workload,
                            "data": data_blob.sha256 if data_blob else None,
                            "model": model_blob.sha256,
                            "engine": engine,
                            "settings": settings,
                            "engine_device": dc.engine_device,
                            "meter": dc.meter,
                            "boundary": dc.boundary,
                            "repeats": repeats,
                            "quick": is_quick,
                            "device_class": cls,
                            "replicate": rep,
                        }
                        h = entry_hash(identity)
                        written += 1
                        spec = EntrySpec(
                            campaign=campaign.name,
                            entry=h,
                            device_class=cls,
                            workload=entry.workload,
                            data=data_blob,
                            model=model_blob,
                            model_name=model_name,
                            model_role=role,
                            engine=engine,
                            engine_settings=settings,
                            engine_device=dc.engine_device,
                            meter=dc.meter,
                            boundary=dc.boundary,
                            repeats=repeats,
                            quick=is_quick,
                            replicate=rep,
                            notes=campaign_note(campaign.name, h, cls),
                            argv=list(argv or ["ecoscore", "campaign", "run", str(path)]),
                        )
                        planned.setdefault(h, PlannedEntry(spec, model_path, data_path))
        except EcoscoreError as e:
            raise CampaignFileError(f"{where}: {e}") from None
    return CampaignPlan(
        source=path,
        file_sha256=file_sha256(path),
        campaign=campaign,
        entries=list(planned.values()),
        duplicates=written - len(planned),
    )


def _models_of(
    entry: CampaignEntry, defaults: EntryDefaults, base: Path
) -> list[tuple[Path, str, str, str, Path | None, dict[str, Any]]]:
    """(model file, name, role, engine, data, settings) of each model of an entry, resolved
    as ``ecoscore run`` resolves them."""
    from ecoscore.benchmarks.registry import get_workload
    from ecoscore.session import RunOptions, resolve_model

    data = (base / entry.data) if entry.data else None
    if data is not None and not data.exists():
        raise CampaignFileError(f"data {entry.data!r}: {data} does not exist")
    wl = get_workload(entry.workload, data)
    engine = entry.engine or defaults.engine
    settings = dict(defaults.settings if entry.settings is None else entry.settings)
    out = []
    for m in entry.models:
        if m in SHIPPED_MODELS:
            opts = RunOptions(
                workloads=[entry.workload], engine=engine, baseline=m == "baseline", data=data
            )
        else:
            model_file = base / m
            if not model_file.is_file():
                raise CampaignFileError(f"model {m!r}: {model_file} is not a file")
            opts = RunOptions(
                workloads=[entry.workload], model=model_file, engine=engine, data=data
            )
        rm = resolve_model(wl, opts)
        out.append((Path(rm.path), rm.name, rm.role, rm.engine, data, settings))
    return out


def _check_engine(engine: str, device: str, settings: dict[str, Any]) -> None:
    from ecoscore.runners.engines.registry import engine_config

    engine_config(engine, device=device, **settings)
