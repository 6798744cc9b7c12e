"""The basket of a ``basket-log-quantiles`` scale, taken from the published MLPerf Tiny table,
and the TOML of one workload's entry (what ``ecoscore/scales/2027.1.toml`` holds for tiny-*).

Rules this module enforces:
- a basket holds **distinct MEASURED results of one task at one boundary**: the published
  rows of the workload's MLPerf Tiny benchmark, without the rows that repeat an earlier
  round's byte-identical energy log (``identical_to_round``), all at ``device-input``;
- each basket entry names where it comes from (the table's ``source``: the energy log's
  repository, commit and path), the round, the system and its device class, so a reader can
  trace every figure the bounds depend on;
- the bounds and the reference point are computed by
  :func:`ecoscore.grading.scale.basket_upper_bounds`, the same function the loader uses to
  check a scale file, so a file written here always loads.

``python -m ecoscore.grading.basket_scale tiny-ic`` prints the workload's entry.
"""

from __future__ import annotations

import math
import sys

from ecoscore.grading.published import (
    BENCHMARK_OF,
    BOUNDARY,
    PublishedTable,
    load_published,
)
from ecoscore.grading.scale import (
    CLASSES,
    MIN_CLASS_DECADES,
    BasketResult,
    basket_upper_bounds,
    quantile,
)

DEFAULT_LEVELS = (0.10, 0.90)


def published_basket(workload: str, table: PublishedTable | None = None) -> list[BasketResult]:
    """The distinct published results of ``workload``'s MLPerf Tiny task, lowest energy
    first (ties: by source)."""
    benchmark = BENCHMARK_OF.get(workload)
    if benchmark is None:
        known = ", ".join(sorted(BENCHMARK_OF))
        raise ValueError(f"{workload!r} has no published MLPerf Tiny task (those that do: {known})")
    table = table or load_published()
    rows = sorted(
        table.distinct(benchmark), key=lambda r: (r.median_energy_uj_per_inference, r.source)
    )
    return [
        BasketResult(
            id=r.source,
            origin="mlperf-tiny",
            round=r.round,
            system=f"{r.submitter} {r.system}",
            device_class=r.device_class,
            energy_per_inference_j=r.median_energy_uj_per_inference * 1e-6,
            boundary=BOUNDARY,
            measurement="MEASURED",
        )
        for r in rows
    ]


def _uj_text(joules: float) -> str:
    """The energy as the table wrote it, in microjoules: ``27.711e-6`` (exact in TOML)."""
    return f"{round(joules * 1e6, 6)!r}e-6"


def workload_toml(
    workload: str,
    basket: list[BasketResult],
    levels: tuple[float, float] = DEFAULT_LEVELS,
    min_class_decades: float = MIN_CLASS_DECADES,
) -> str:
    """The ``[workloads.<name>]`` entry of a basket scale: bounds, reference point, basket."""
    energies = [b.energy_per_inference_j for b in basket]
    bounds, ref = basket_upper_bounds(energies, levels, min_class_decades)
    logs = [math.log10(e) for e in energies]
    lo, hi = quantile(logs, levels[0]), quantile(logs, levels[1])
    spread = hi - lo
    widened = spread < 3 * min_class_decades
    rounds = sorted({b.round for b in basket if b.round})
    how = (
        f"widened about their log-midpoint from {spread:.2f} to {3 * min_class_decades:g} "
        f"decades (classes of {min_class_decades:g} decade)"
        if widened
        else f"not widened ({spread:.2f} decades >= {3 * min_class_decades:g})"
    )
    at = basket[0].boundary
    if rounds and all(b.origin == "mlperf-tiny" for b in basket):
        what = (
            f"closed-division MLPerf Tiny energy results of this task ({rounds[0]}-"
            f"{rounds[-1]}, MEASURED at {at} by EEMBC EnergyRunner; results/published/"
            "mlperf_tiny_energy.csv)"
        )
    else:
        what = f"MEASURED results at {at} listed in the basket"
    point = (
        f"Centre of class C by the basket-log-quantiles rule over the {len(basket)} distinct "
        f"{what}: the basket's {levels[0]:g} and {levels[1]:g} log-quantiles are "
        f"{10**lo:.3g} J and {10**hi:.3g} J; the bounds are {how}."
    )
    shown = ", ".join(f"{c} = {b:.3g}" for c, b in zip(CLASSES, bounds, strict=False))
    lines = [
        f"[workloads.{workload}]",
        'rule = "basket-log-quantiles"',
        f'boundaries = ["{at}"]',
        f"reference_energy_per_inference_j = {ref:.3g}",
        f'reference_point = """{point}"""',
        f"upper_bounds_j = {{ {shown} }}",
        "basket = [",
    ]
    for b in basket:
        lines.append(
            f'  {{ id = "{b.id}", origin = "{b.origin}", round = "{b.round}", '
            f'system = "{b.system}", device_class = "{b.device_class}", '
            f"energy_per_inference_j = {_uj_text(b.energy_per_inference_j)}, "
            f'boundary = "{b.boundary}", measurement = "{b.measurement}" }},'
        )
    lines.append("]")
    return "\n".join(lines) + "\n"


def _main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m ecoscore.grading.basket_scale WORKLOAD", file=sys.stderr)
        return 2
    try:
        basket = published_basket(argv[0])
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    sys.stdout.write(workload_toml(argv[0], basket))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
