"""Build paired run records for tests (``ecoscore run --paired``): a factory record of the
model, and a ``paired`` section whose reference windows are interleaved with the model's in
time and whose factors are what the pairs of windows give.

``with_paired(record, factors)`` gives the reference window i the model window i's energy
divided by ``factors[i]``: the per-pair ratios are exactly ``factors``.
"""

from __future__ import annotations

import functools
from typing import Any

from ecoscore.models.registry import reference_model
from ecoscore.record import ModelRef, PairedRun, PairedScenario, RunRecord, Window
from ecoscore.runners.model_files import inspect_model
from ecoscore.runners.paired import pair_factor
from ecoscore.runners.record_builder import model_ref
from ecoscore.runners.stats import median_stat
from tests.record_factory import make_record

#: Where the first model window starts (unix seconds); every window lasts its duration and
#: the next starts 0.5 s after the previous ends.
T0 = 1_795_000_000.0


@functools.cache
def installed_reference(workload: str = "vision-digits", fmt: str = "onnx") -> ModelRef:
    """The installed workload's reference model, as a paired record names it."""
    ref = reference_model(workload, "reference")
    file = inspect_model(ref.file(fmt))
    return model_ref(file, ref.name, "reference", file.parameter_count)


def _timed(w: Window, t0: float) -> Window:
    return w.model_copy(
        update={"details": {**w.details, "t0_unix": t0, "t1_unix": t0 + w.duration_s}}
    )


def with_paired(
    record: RunRecord,
    factors: list[float],
    reference: ModelRef | None = None,
    reference_quality: float | None = None,
) -> RunRecord:
    """``record`` (one single-stream scenario) paired: its windows and the reference's
    alternate in time (model first), the reference's window i has the energy of the model's
    window i divided by ``factors[i]`` and the same length, and every summary and factor is
    what the windows give."""
    single = record.scenarios[0]
    assert len(factors) == len(single.windows)
    t = T0
    model_windows, ref_windows = [], []
    for w, f in zip(single.windows, factors, strict=True):
        model_windows.append(_timed(w, t))
        t += w.duration_s + 0.5
        energy = w.energy_j / f
        ready_w = (w.energy_j - w.net_energy_j) / w.duration_s
        ref = w.model_copy(
            update={"energy_j": energy, "net_energy_j": energy - ready_w * w.duration_s}
        )
        ref_windows.append(_timed(ref, t))
        t += w.duration_s + 0.5
    model = single.model_copy(update={"windows": model_windows})
    ok = [w for w in ref_windows if w.valid]

    def stat(values: list[float]) -> Any:
        return median_stat(values) if values else None

    ref_scenario = single.model_copy(
        update={
            "windows": ref_windows,
            "energy_per_inference_j": stat([w.energy_j / w.inferences for w in ok]),
            "net_energy_per_inference_j": stat([w.net_energy_j / w.inferences for w in ok]),
            "power_w": stat([w.energy_j / w.duration_s for w in ok]),
        }
    )
    q = record.quality
    value = reference_quality if reference_quality is not None else min(q.value + 0.02, 0.999)
    paired = PairedRun(
        measurement=record.meter.measurement,  # type: ignore[arg-type]
        reference=reference or installed_reference(record.workload.name),
        reference_quality=q.model_copy(update={"value": value, "passed": value >= q.gate}),
        scenarios=[
            PairedScenario(
                name=single.name,
                reference=ref_scenario,
                factor=pair_factor(model_windows, ref_windows),
            )
        ],
    )
    return record.model_copy(update={"scenarios": [model], "paired": paired}).with_id()


def make_paired(factors: list[float] | None = None, **kw: Any) -> RunRecord:
    """A factory record of the digits logistic baseline, paired with the installed CNN."""
    factors = factors if factors is not None else [0.2, 0.21, 0.19, 0.2, 0.22]
    kw.setdefault("model_name", "digits-logreg")
    kw.setdefault("role", "baseline")
    kw.setdefault("repeats", len(factors))
    return with_paired(make_record(**kw), factors)
