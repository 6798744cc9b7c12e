"""Published results beside a record: where a run's energy per inference sits among MLPerf
Tiny's closed-division energy results for the same task, at the same boundary only.

The table is ``results/published/mlperf_tiny_energy.csv`` (installed as
``ecoscore.published``), rebuilt from the public results repositories by the script beside
it; each row names its source file. It is read here through a validated model (one line per
error, naming the file, the row and the column).

Rules this module enforces:
- **same boundary only**: MLPerf Tiny energy is measured by EEMBC's EnergyRunner, whose
  energy monitor powers the device under test and measures what flows into the device's
  supply input during inference (ecoscore's boundary name: ``device-input``). A record is
  placed among the published results only if its meter's boundary is one of
  ``COMPARABLE_BOUNDARIES``; a CPU package (RAPL), a GPU (NVML), a board's rails or a wall
  socket measure something else, and the position is withheld with the reason;
- **same task only**: tiny-ic with ic, tiny-kws with kws, tiny-vww with vww, tiny-ad with ad;
- **distinct results only**: rows that repeat an earlier round's byte-identical energy log
  (``identical_to_round``) are left out of the count and the median;
- the quantity compared is the record's single-stream gross median energy per inference
  (batch 1, idle power included), the nearest to EnergyRunner's median energy per
  inference; caveats (non-reference data, an estimate, a quick run) are stated with it.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ecoscore.errors import InputError
from ecoscore.record import RunRecord

#: The boundary of the published MLPerf Tiny energy figures, in ecoscore's vocabulary.
BOUNDARY = "device-input"
BOUNDARY_TEXT = (
    "device-input: energy into the device's supply input, measured by EEMBC's EnergyRunner "
    "energy monitor in series with the device under test's supply (1 kHz samples, median of "
    "5 windows of at least 10 s)"
)
#: Record boundaries measured at the same place (an instrument in series with the device's
#: supply: ``--meter joulescope``, whose default is device-input, or a CSV power log
#: declared with ``--boundary device-input``).
COMPARABLE_BOUNDARIES: tuple[str, ...] = ("device-input",)
#: ecoscore workload -> MLPerf Tiny benchmark.
BENCHMARK_OF: dict[str, str] = {
    "tiny-ic": "ic",
    "tiny-kws": "kws",
    "tiny-vww": "vww",
    "tiny-ad": "ad",
}
TABLE_NAME = "mlperf_tiny_energy.csv"

Text = Annotated[str, StringConstraints(min_length=1)]


class PublishedTableError(InputError):
    """The published-results table is malformed; the message names the file, row, column."""


class PublishedResult(BaseModel):
    """One closed-division energy result (one system, one benchmark, one round)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    round: Annotated[str, StringConstraints(pattern=r"^v\d+\.\d+$")]
    division: Literal["closed", "open"]
    submitter: Text
    system: Text
    processor: str
    accelerator: str
    framework: str
    device_class: Text
    benchmark: Literal["ic", "kws", "vww", "ad"]
    median_energy_uj_per_inference: float = Field(gt=0, allow_inf_nan=False)
    median_latency_ms: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    accuracy: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    accuracy_metric: Literal["top1_pct", "auc"]
    #: repository@commit:path of the energy log the row was read from
    source: Annotated[str, StringConstraints(pattern=r"^\S+@\S+:\S+$")]
    identical_to_round: Annotated[str, StringConstraints(pattern=r"^v\d+\.\d+$")] | None = None


@dataclass(frozen=True)
class PublishedTable:
    path: str
    rows: tuple[PublishedResult, ...]

    def distinct(self, benchmark: str) -> list[PublishedResult]:
        """The results for ``benchmark``, without rows repeating an earlier round's log."""
        return [r for r in self.rows if r.benchmark == benchmark and r.identical_to_round is None]

    @property
    def rounds(self) -> list[str]:
        return sorted({r.round for r in self.rows}, key=lambda v: tuple(map(int, v[1:].split("."))))


def table_path() -> Path:
    return Path(str(resources.files("ecoscore.published").joinpath(TABLE_NAME)))


def load_published(path: Path | None = None) -> PublishedTable:
    """Read and validate the table (default: the one shipped with ecoscore)."""
    path = Path(path) if path is not None else table_path()
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = set(reader.fieldnames or ())
            missing = set(PublishedResult.model_fields) - fields
            if missing:
                raise PublishedTableError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            rows = []
            for line, raw in enumerate(reader, start=2):
                doc = {k: (v if v != "" else None) for k, v in raw.items() if k is not None}
                for k in ("processor", "accelerator", "framework"):
                    doc[k] = doc.get(k) or ""
                try:
                    rows.append(PublishedResult.model_validate(doc))
                except ValidationError as e:
                    first = e.errors()[0]
                    col = ".".join(str(p) for p in first["loc"]) or "(row)"
                    raise PublishedTableError(
                        f"{path}: line {line}, column {col!r}: {first['msg']}"
                    ) from None
    except OSError as e:
        raise PublishedTableError(f"{path}: cannot read: {e.strerror or e}") from None
    if not rows:
        raise PublishedTableError(f"{path}: no rows")
    return PublishedTable(str(path), tuple(rows))


@dataclass(frozen=True)
class Position:
    """Where a record sits among the published results of its task (``comparable``), or
    why it is not placed (``reason``)."""

    workload: str
    benchmark: str
    comparable: bool
    reason: str | None
    count: int
    median_uj: float | None
    record_uj: float | None
    ratio: float | None  # record / median
    below: int | None  # published results that used more energy than the record
    rounds: str
    caveats: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        where = f"MLPerf Tiny {self.benchmark} ({self.rounds}, closed, {BOUNDARY})"
        if not self.comparable:
            return f"{where}: not placed: {self.reason}"
        assert self.ratio is not None and self.median_uj is not None
        if self.ratio <= 1:
            rel = f"{1 / self.ratio:.3g}x less energy than"
        else:
            rel = f"{self.ratio:.3g}x more energy than"
        line = (
            f"{where}: {self.record_uj:.4g} uJ/inference, {rel} the median of {self.count} "
            f"published results ({self.median_uj:.4g} uJ); less than {self.below} of "
            f"{self.count}"
        )
        return line + "".join(f"; {c}" for c in self.caveats)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["caveats"] = list(self.caveats)
        doc["text"] = self.text
        return doc


def position(record: RunRecord, table: PublishedTable | None = None) -> Position | None:
    """The record's position among the published results of its task, at the same boundary
    only; None when its workload has no published counterpart."""
    benchmark = BENCHMARK_OF.get(record.workload.name)
    if benchmark is None:
        return None
    table = table or load_published()
    peers = table.distinct(benchmark)
    energies = sorted(r.median_energy_uj_per_inference for r in peers)
    rounds = f"{table.rounds[0]}-{table.rounds[-1]}" if table.rounds else ""
    base = {
        "workload": record.workload.name,
        "benchmark": benchmark,
        "count": len(energies),
        "median_uj": statistics.median(energies) if energies else None,
        "rounds": rounds,
    }
    single = record.scenario("single_stream")
    stat = single.energy_per_inference_j if single is not None and single.valid else None
    reason = None
    if record.meter.boundary not in COMPARABLE_BOUNDARIES:
        reason = (
            f"the record's energy is at boundary {record.meter.boundary!r}; the published "
            f"results are at {BOUNDARY_TEXT}; comparable boundaries: "
            f"{', '.join(COMPARABLE_BOUNDARIES)}"
        )
    elif stat is None or not stat.median > 0:
        reason = "the record has no valid single-stream energy per inference"
    elif not energies:
        reason = f"the table has no {benchmark} results"
    if reason is not None:
        return Position(
            **base, comparable=False, reason=reason, record_uj=None, ratio=None, below=None
        )
    assert stat is not None and base["median_uj"] is not None
    record_uj = stat.median * 1e6
    caveats = []
    if record.workload.reference_data is not True:
        caveats.append("your run used non-reference data (for information)")
    if record.meter.measurement == "ESTIMATED":
        caveats.append("your energy is ESTIMATED, the published energy MEASURED")
    if record.run.quick:
        caveats.append("your run is a quick (smoke) run")
    return Position(
        **base,
        comparable=True,
        reason=None,
        record_uj=record_uj,
        ratio=record_uj / float(base["median_uj"]),
        below=sum(1 for e in energies if e > record_uj),
        caveats=tuple(caveats),
    )
