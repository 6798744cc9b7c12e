"""A scenario's energy per inference split by idle level, as ``score`` prints it.

The record keeps three idle levels (``IdleLevels``): the device idle (before the engine
touched the device), the ready idle before the windows (model loaded, warmed up) and the
ready idle after them. Per inference, from the valid windows:

- gross: what the meter read at its boundary;
- attributable: gross minus the device idle power over the window's time (what running
  this model costs the device above doing nothing);
- ready overhead: the ready idle minus the device idle, over the window's time (what
  holding the model ready costs: a GPU context, clocks kept up, spinning threads);
- incremental: gross minus the ready idle (the record's ``net``), shown only when it is
  larger than the meter's resolution (one sensor update at the ready idle power, per
  inference of a window): below it, the figure is noise of the counter, and is not shown.

attributable = ready overhead + incremental, window by window. Medians over windows are
printed, so the three medians need not add up exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ecoscore.record import RunRecord, ScenarioResult


@dataclass(frozen=True)
class EnergyLevels:
    scenario: str
    device_idle_w: float | None
    ready_idle_w: float | None
    ready_idle_after_w: float | None
    gross_j: float | None
    attributable_j: float | None
    ready_overhead_j: float | None
    incremental_j: float | None
    resolution_j: float | None

    @property
    def incremental_shown(self) -> bool:
        """Whether the incremental figure is above the meter's resolution."""
        if self.incremental_j is None:
            return False
        return self.resolution_j is None or abs(self.incremental_j) > self.resolution_j

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "incremental_shown": self.incremental_shown}


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def scenario_levels(record: RunRecord, s: ScenarioResult) -> EnergyLevels:
    levels = record.idle_levels
    device = levels.device if levels is not None else None
    device_w = device.power_w if device is not None and device.valid else None
    ready = levels.ready if levels is not None else record.idle
    after = levels.ready_after if levels is not None else None
    windows = [w for w in s.windows if w.valid and w.inferences > 0]
    overhead = [
        (w.ready_idle_w - device_w) * w.duration_s / w.inferences
        for w in windows
        if w.ready_idle_w is not None and device_w is not None
    ]
    stat = s.attributable_energy_per_inference_j
    gross = s.energy_per_inference_j
    net = s.net_energy_per_inference_j
    return EnergyLevels(
        scenario=s.name,
        device_idle_w=device_w,
        ready_idle_w=ready.power_w if ready is not None and ready.valid else None,
        ready_idle_after_w=after.power_w if after is not None and after.valid else None,
        gross_j=gross.median if gross is not None else None,
        attributable_j=stat.median if stat is not None else None,
        ready_overhead_j=_median(overhead),
        incremental_j=net.median if net is not None else None,
        resolution_j=s.incremental_resolution_j,
    )


def energy_levels(record: RunRecord) -> list[EnergyLevels]:
    """One entry per scenario of the record."""
    return [scenario_levels(record, s) for s in record.scenarios]
