"""Indicators shown beside the grade, each with its source: CO2e, embodied share, water,
the comparison with the workload's non-neural baseline, and a volume projection.

All of them start from the figure the grade uses: the single-stream median energy per
inference, gross, at the record's boundary. They never change the grade.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ecoscore.benchmarks.metrics import higher_is_better, passes_gate
from ecoscore.errors import UsageError
from ecoscore.grading.carbon import DEFAULT_LOCATION, J_PER_KWH, GridIntensity, grid_intensity
from ecoscore.grading.embodied import (
    EmbodiedShare,
    EmbodiedTable,
    embodied_share,
    load_embodied_table,
)
from ecoscore.record import RunRecord

DAYS_PER_YEAR = 365.25
#: Volumes shown in the projection, as multiples of the declared query rate (rebound effect).
VOLUME_MULTIPLES = (1, 10, 100)


class IndicatorError(UsageError):
    """An indicator cannot be computed as asked (e.g. a baseline of another workload)."""


@dataclass(frozen=True)
class CarbonFigure:
    g_co2e_per_1000: float
    grid: GridIntensity


@dataclass(frozen=True)
class WaterFigure:
    l_per_1000: float
    l_per_kwh: float
    source: str


@dataclass(frozen=True)
class BaselineComparison:
    baseline_model: str
    baseline_record_id: str
    metric: str
    model_quality: float
    baseline_quality: float
    baseline_passes_gate: bool
    quality_points_gained: float  # 100 x (model - baseline), metric in [0, 1]; rmse: removed
    model_energy_j: float
    baseline_energy_j: float
    extra_energy_j: float  # per inference, model - baseline
    energy_ratio: float  # model / baseline
    points_per_extra_joule: float | None  # None when the model uses no extra energy
    verdict: str


@dataclass(frozen=True)
class VolumeRow:
    queries_per_day: float
    kwh_per_year: float
    kg_co2e_per_year: float  # operational, at the grid intensity
    embodied_kg_co2e_per_year: float | None  # None when the embodied share is unknown


@dataclass(frozen=True)
class Indicators:
    energy_per_inference_j: float | None
    energy_per_1000_j: float | None
    boundary: str
    measurement: str
    carbon: CarbonFigure | None
    embodied: EmbodiedShare
    water: WaterFigure | None
    baseline: BaselineComparison | None
    volume: tuple[VolumeRow, ...]
    latency_p90_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["embodied"] = {
            "known": self.embodied.known,
            "g_co2e_per_1000": self.embodied.g_co2e_per_1000,
            "device": self.embodied.device_name,
            "entry": self.embodied.entry.id if self.embodied.entry else None,
            "active_s_per_inference": self.embodied.active_s_per_inference,
            "reason": self.embodied.reason,
            "source": self.embodied.source,
            "footprint_kgco2e": self.embodied.entry.kgco2e if self.embodied.entry else None,
            "footprint_source": (
                self.embodied.entry.footprint_source if self.embodied.entry else None
            ),
            "lifetime_years": self.embodied.entry.lifetime_years if self.embodied.entry else None,
            "lifetime_source": self.embodied.entry.lifetime_source if self.embodied.entry else None,
        }
        return doc


def single_stream_energy_j(record: RunRecord) -> float | None:
    scenario = record.scenario("single_stream")
    if scenario is None or scenario.energy_per_inference_j is None:
        return None
    median = scenario.energy_per_inference_j.median
    return median if median > 0 else None


def active_seconds_per_inference(record: RunRecord) -> float | None:
    """Busy time of the device per inference in single-stream: measured window time over
    inferences served (valid windows), else the mean latency."""
    scenario = record.scenario("single_stream")
    if scenario is None:
        return None
    windows = [w for w in scenario.windows if w.valid and w.inferences > 0]
    if windows:
        return sum(w.duration_s for w in windows) / sum(w.inferences for w in windows)
    if scenario.latency is not None and scenario.latency.mean_ms > 0:
        return scenario.latency.mean_ms / 1000.0
    return None


def compare_with_baseline(record: RunRecord, baseline: RunRecord) -> BaselineComparison:
    """Quality points gained per extra joule over the workload's non-neural baseline."""
    a, b = record.workload, baseline.workload
    if (a.name, a.version, a.eval_data_sha256) != (b.name, b.version, b.eval_data_sha256):
        raise IndicatorError(
            f"baseline {baseline.record_id[:12]} is for {b.name} {b.version}, "
            f"not {a.name} {a.version} on the same evaluation data"
        )
    e_model, e_base = single_stream_energy_j(record), single_stream_energy_j(baseline)
    if e_model is None or e_base is None:
        which = "record" if e_model is None else "baseline"
        raise IndicatorError(f"the {which} has no single-stream energy per inference")
    # points: 100 x the gain on a [0, 1] metric; for RMSE (lower is better), the error removed,
    # in the target's unit
    gain = record.quality.value - baseline.quality.value
    points = 100.0 * gain if higher_is_better(record.quality.metric) else -gain
    extra = e_model - e_base
    per_joule = points / extra if extra > 0 else None
    base_passes = passes_gate(baseline.quality.metric, baseline.quality.value, b.quality_gate)
    return BaselineComparison(
        baseline_model=baseline.model.name,
        baseline_record_id=baseline.record_id,
        metric=record.quality.metric,
        model_quality=record.quality.value,
        baseline_quality=baseline.quality.value,
        baseline_passes_gate=base_passes,
        quality_points_gained=points,
        model_energy_j=e_model,
        baseline_energy_j=e_base,
        extra_energy_j=extra,
        energy_ratio=e_model / e_base,
        points_per_extra_joule=per_joule,
        verdict=_verdict(points, extra, e_model / e_base, base_passes),
    )


def _verdict(points: float, extra_j: float, ratio: float, base_passes: bool) -> str:
    if extra_j <= 0 and points >= 0:
        return "the model is at least as good as the baseline and uses no more energy"
    if points <= 0:
        return (
            f"the baseline is as good or better with {ratio:.3g}x less energy"
            if extra_j > 0
            else "the baseline is better but uses more energy"
        )
    if not base_passes:
        return (
            f"the baseline misses the quality gate; the model gains {points:.3g} points "
            f"for {ratio:.3g}x the energy"
        )
    return (
        f"the baseline already passes the gate; the model gains {points:.3g} points "
        f"for {ratio:.3g}x the energy"
    )


def volume_projection(
    energy_per_inference_j: float,
    queries_per_day: float,
    grid: GridIntensity | None,
    embodied: EmbodiedShare,
) -> tuple[VolumeRow, ...]:
    """Yearly energy and CO2e at the declared rate and at 10x and 100x that rate."""
    if not queries_per_day > 0:
        raise IndicatorError(f"queries per day must be > 0, got {queries_per_day}")
    rows = []
    for multiple in VOLUME_MULTIPLES:
        qpd = queries_per_day * multiple
        per_year = qpd * DAYS_PER_YEAR
        kwh = energy_per_inference_j * per_year / J_PER_KWH
        kg = kwh * grid.g_co2e_per_kwh / 1000.0 if grid else float("nan")
        emb = (
            embodied.g_co2e_per_1000 * per_year / 1000.0 / 1000.0
            if embodied.known and embodied.g_co2e_per_1000 is not None
            else None
        )
        rows.append(
            VolumeRow(
                queries_per_day=qpd,
                kwh_per_year=kwh,
                kg_co2e_per_year=kg,
                embodied_kg_co2e_per_year=emb,
            )
        )
    return tuple(rows)


def compute_indicators(
    record: RunRecord,
    location: str = DEFAULT_LOCATION,
    baseline: RunRecord | None = None,
    queries_per_day: float | None = None,
    water_l_per_kwh: float | None = None,
    embodied_table: EmbodiedTable | None = None,
) -> Indicators:
    energy = single_stream_energy_j(record)
    grid = grid_intensity(location)
    carbon = (
        CarbonFigure(g_co2e_per_1000=grid.g_co2e_for_joules(energy * 1000.0), grid=grid)
        if energy is not None
        else None
    )
    table = embodied_table or load_embodied_table()
    embodied = embodied_share(
        table, record.device.kind, record.device.name, active_seconds_per_inference(record)
    )
    water = None
    if water_l_per_kwh is not None:
        if water_l_per_kwh < 0:
            raise IndicatorError(f"water factor must be >= 0 L/kWh, got {water_l_per_kwh}")
        if energy is not None:
            water = WaterFigure(
                l_per_1000=energy * 1000.0 / J_PER_KWH * water_l_per_kwh,
                l_per_kwh=water_l_per_kwh,
                source="declared factor (--water-l-per-kwh), not measured by ecoscore",
            )
    comparison = compare_with_baseline(record, baseline) if baseline is not None else None
    volume: tuple[VolumeRow, ...] = ()
    if queries_per_day is not None and energy is not None:
        volume = volume_projection(energy, queries_per_day, grid, embodied)
    single = record.scenario("single_stream")
    p90 = single.latency.p90_ms if single is not None and single.latency is not None else None
    return Indicators(
        energy_per_inference_j=energy,
        energy_per_1000_j=energy * 1000.0 if energy is not None else None,
        boundary=record.meter.boundary,
        measurement=record.meter.measurement,
        carbon=carbon,
        embodied=embodied,
        water=water,
        baseline=comparison,
        volume=volume,
        latency_p90_ms=p90,
    )


_PREFIXES = ((1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"))


def format_quantity(value: float | None, unit: str, digits: int = 3) -> str:
    """``0.2, "J"`` -> ``200 mJ``: three significant figures with an SI prefix."""
    if value is None or value != value:
        return "unknown"
    if value == 0:
        return f"0 {unit}"
    magnitude = abs(value)
    factor, prefix = next(((f, p) for f, p in _PREFIXES if magnitude >= f), _PREFIXES[-1])
    return f"{value / factor:.{digits}g} {prefix}{unit}"
