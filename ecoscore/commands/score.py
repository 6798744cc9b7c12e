"""``ecoscore score RECORD...``: grade, class probabilities and the indicators beside it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ecoscore.commands.common import (
    LocationOption,
    ScaleFileOption,
    ScaleOption,
    add_command,
    scale_from,
)

if TYPE_CHECKING:
    from ecoscore.grading.grade import Grade
    from ecoscore.grading.indicators import Indicators
    from ecoscore.grading.published import Position
    from ecoscore.record import RunRecord


def energy_ranks(grades: list[Grade]) -> list[str]:
    """``1/3``: rank by energy per inference among the graded records of the same workload."""
    ranks = []
    for g in grades:
        peers = sorted(
            p.energy_per_inference_j
            for p in grades
            if p.workload == g.workload and p.letter is not None and p.energy_per_inference_j
        )
        if g.letter is None or g.energy_per_inference_j is None or len(peers) < 2:
            ranks.append("")
        else:
            ranks.append(f"{peers.index(g.energy_per_inference_j) + 1}/{len(peers)}")
    return ranks


def floor_text(record: RunRecord) -> str:
    """The engine's empty-call floor of each scenario (a do-nothing model through the same
    engine path), beside the model's own time per call; empty for records without it."""
    from ecoscore.grading.indicators import format_quantity as q

    parts = []
    for sc in record.scenarios:
        ec = sc.empty_call
        if ec is None:
            continue
        label = sc.name.replace("_", "-")
        if ec.unavailable_reason is not None or ec.mean_call_s is None:
            parts.append(f"{label}: not measured ({ec.unavailable_reason})")
            continue
        if sc.name == "single_stream" and ec.median_call_s is not None:
            value, model_s = ec.median_call_s, (sc.latency.p50_ms / 1e3 if sc.latency else None)
            what, of = "median", "p50 latency"
        else:
            value, what, of = ec.mean_call_s, "mean", "time per batch"
            rate = sc.throughput_per_s.median
            model_s = sc.batch_size / rate if rate > 0 else None
        share = f", {100 * value / model_s:.2g} % of the model's {of}" if model_s else ""
        parts.append(f"{label} {q(value, 's')} per call ({what}, batch {ec.batch_size}{share})")
    if not parts:
        return ""
    return "; ".join(parts) + " (a do-nothing model through the same engine path; time only)"


def _detail_lines(
    record: RunRecord, grade: Grade, ind: Indicators, placed: Position | None = None
) -> list[str]:
    from rich.markup import escape

    from ecoscore.grading.indicators import format_quantity as q
    from ecoscore.jury.compare import ci_level_text
    from ecoscore.reports.safe_text import terminal

    def x(text: str) -> str:
        return escape(terminal(text))

    lines = [
        f"[bold]{x(record.model.name)}[/bold] on {x(record.device.name)} "
        f"({x(record.meter.boundary)}, {record.meter.measurement}), record "
        f"{x(record.record_id[:12])}, scale {grade.scale_version}"
    ]
    if grade.letter is None:
        lines.append(f"  grade: [red]{x(grade.reason or '')}[/red]")
    else:
        lines.append(
            f"  grade: [bold]{grade.mark}[/bold]  {grade.probabilities_text}"
            f"  (log-sigma {grade.sigma_log:.3f}: repeats "
            f"{grade.sigma_sources['repeats']:.3f} from {grade.sigma_sources['repeats_from']}"
            f", meter {grade.sigma_sources['meter']:.3f}, between runs "
            f"{grade.sigma_sources['between_runs']:.3f}; model-based)"
        )
    mg = grade.model_grade
    if mg is not None:
        if mg.letter is None:
            lines.append(f"  model grade: [red]{x(mg.reason or '')}[/red]")
        else:
            lines.append(
                f"  model grade: [bold]{mg.mark}[/bold]  {mg.probabilities_text}  (mapping "
                f"{x(mg.mapping_version)}: class C is as frugal as the reference; model-based)"
            )
        if mg.factor is not None:
            est = "; a ratio of ESTIMATED energies: provisional" if mg.provisional else ""
            lines.append(
                f"  model factor E_model / E_reference: {x(mg.factor_text)} over {mg.pairs} "
                f"interleaved pair(s) of single-stream windows against {x(mg.reference)}{est}"
            )
    if record.workload.reference_data is not None:
        kind = "reference" if record.workload.reference_data else "non-reference"
        lines.append(f"  data: {kind} ({x(record.workload.data_check or '')})")
    if placed is not None:
        lines.append(f"  {x(placed.text)}")
    single = record.scenario("single_stream")
    stat = single.energy_per_inference_j if single is not None else None
    if stat is not None:
        lines.append(
            f"  energy: {q(stat.median, 'J')} per inference (single-stream median, gross); "
            f"interval {q(stat.ci_low, 'J')} to {q(stat.ci_high, 'J')} at "
            f"{ci_level_text(stat.ci_level)} confidence over {stat.n} repeat(s)"
        )
    lines.extend(_level_lines(record))
    floor = floor_text(record)
    if floor:
        lines.append(f"  engine floor: {x(floor)}")
    tag = "[no-interference] "
    seen = [b.removeprefix(tag) for b in grade.certification_blockers if b.startswith(tag)]
    if seen:
        lines.append(
            f"  [red]interference: {x('; '.join(seen))} (above 10 % of the CPUs, or other "
            "processes on the measured GPU: not certifiable)[/red]"
        )
    if grade.provisional:
        lines.append(
            "  [yellow]* provisional: energy ESTIMATED, not measured; cannot be certified[/yellow]"
        )
    elif grade.certifiable:
        lines.append("  certifiable: yes (measured energy, quality gate passed, every rule holds)")
    else:
        lines.append(f"  certifiable: no ({x('; '.join(grade.certification_blockers))})")
    lines.append(f"  assurance: {grade.assurance} (sensor: {x(record.meter.source)})")
    if ind.carbon:
        lines.append(
            f"  CO2e: {q(ind.carbon.g_co2e_per_1000, 'g')} per 1,000 inferences at "
            f"{ind.carbon.grid.g_co2e_per_kwh:g} g/kWh ({ind.carbon.grid.country}); "
            f"source: {x(ind.carbon.grid.source)}"
        )
    emb = ind.embodied
    if emb.known:
        lines.append(
            f"  embodied: {q(emb.g_co2e_per_1000, 'g')} CO2e per 1,000 inferences "
            f"({emb.entry.footprint_status if emb.entry else ''}, by active time "
            f"{q(emb.active_s_per_inference, 's')}/inference); source: {x(emb.source)}"
        )
    else:
        lines.append(f"  embodied: unknown ({x(emb.reason or '')})")
    if ind.water:
        lines.append(
            f"  water: {q(ind.water.l_per_1000, 'L')} per 1,000 inferences at "
            f"{ind.water.l_per_kwh:g} L/kWh ({ind.water.source})"
        )
    b = ind.baseline
    if b:
        per_j = (
            f"{b.points_per_extra_joule:.4g} points per extra joule per inference"
            if b.points_per_extra_joule is not None
            else "no extra energy"
        )
        lines.append(
            f"  vs baseline {x(b.baseline_model)}: {b.quality_points_gained:+.2f} points "
            f"of {x(b.metric)}, {b.energy_ratio:.3g}x the energy; {per_j}; {b.verdict}"
        )
    for row in ind.volume:
        emb_txt = (
            f" + {row.embodied_kg_co2e_per_year:.3g} kg embodied"
            if row.embodied_kg_co2e_per_year is not None
            else " + embodied unknown"
        )
        lines.append(
            f"  at {row.queries_per_day:,.0f} queries/day: {row.kwh_per_year:.4g} kWh/yr, "
            f"{row.kg_co2e_per_year:.4g} kg CO2e/yr{emb_txt}"
        )
    return lines


def _level_lines(record: RunRecord) -> list[str]:
    """The idle levels and the energy per inference above each (single-stream)."""
    from ecoscore.grading.energy_levels import energy_levels
    from ecoscore.grading.indicators import format_quantity as q

    def w(value: float | None) -> str:
        return "not measured" if value is None else f"{value:.4g} W"

    def j(value: float) -> str:  # rounding noise of a subtraction is a zero
        return "0 J" if abs(value) <= 1e-9 * abs(lv.gross_j or 0.0) else q(value, "J")

    single = [lv for lv in energy_levels(record) if lv.scenario == "single_stream"]
    if not single:
        return []
    lv = single[0]
    after = f" / {w(lv.ready_idle_after_w)} after" if lv.ready_idle_after_w is not None else ""
    lines = [
        f"  idle: device {w(lv.device_idle_w)} (before the engine touched it), ready "
        f"{w(lv.ready_idle_w)} before the windows{after}"
    ]
    parts = []
    if lv.attributable_j is not None:
        parts.append(f"attributable {j(lv.attributable_j)} (above the device idle)")
    if lv.ready_overhead_j is not None:
        parts.append(f"ready overhead {j(lv.ready_overhead_j)}")
    if lv.incremental_j is not None:
        if lv.incremental_shown:
            parts.append(f"incremental {j(lv.incremental_j)} (above the ready idle)")
        else:
            parts.append(
                f"incremental below the meter's resolution of {q(lv.resolution_j or 0, 'J')}: "
                "not shown"
            )
    if parts:
        kind = " (ESTIMATED)" if record.meter.measurement == "ESTIMATED" else ""
        lines.append(f"  per inference, single-stream medians{kind}: " + "; ".join(parts))
    return lines


def score(
    records: Annotated[list[Path], typer.Argument(help="Run record JSON files.", exists=False)],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
    scale: ScaleOption = None,
    scale_file: ScaleFileOption = None,
    location: LocationOption = "FRA",
    baseline: Annotated[
        Path | None, typer.Option(help="Record of the workload's non-neural baseline.")
    ] = None,
    queries_per_day: Annotated[
        float | None, typer.Option(help="Declared query rate for the yearly projection.")
    ] = None,
    water_l_per_kwh: Annotated[
        float | None, typer.Option(help="Declared water factor (litres per kWh).")
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Grade run records on a versioned scale and show the indicators beside the grade."""
    from ecoscore.grading.energy_levels import energy_levels
    from ecoscore.grading.grade import grade_record
    from ecoscore.grading.indicators import compute_indicators
    from ecoscore.record import load_record

    the_scale = scale_from(scale, scale_file)
    loaded = [load_record(p) for p in records]
    base = load_record(baseline) if baseline is not None else None
    grades = [grade_record(r, the_scale) for r in loaded]
    inds = [
        compute_indicators(
            r,
            location=location,
            baseline=base,
            queries_per_day=queries_per_day,
            water_l_per_kwh=water_l_per_kwh,
        )
        for r in loaded
    ]
    ranks = energy_ranks(grades)
    placed = published_positions(loaded)
    if json_out:
        doc: dict[str, Any] = {
            "scale": the_scale.version,
            "scale_basis": the_scale.summary,
            "scale_built_on_estimates": the_scale.built_on_estimates,
            "location": location.upper(),
            "results": [
                {
                    "record": str(p),
                    "grade": g.to_dict(),
                    "rank": rk or None,
                    "indicators": i.to_dict(),
                    "published": pos.to_dict() if pos is not None else None,
                    "energy_levels": [lv.to_dict() for lv in energy_levels(r)],
                }
                for p, r, g, i, rk, pos in zip(
                    records, loaded, grades, inds, ranks, placed, strict=True
                )
            ],
        }
        from ecoscore.reports.safe_text import terminal_json

        typer.echo(terminal_json(doc))
        return
    _print_tables(loaded, grades, inds, ranks, the_scale.summary, placed)


def published_positions(records: list[RunRecord]) -> list[Position | None]:
    """Each record's place among the published results of its task (None: no such task);
    the table is read once, and only when a record needs it."""
    from ecoscore.grading.published import BENCHMARK_OF, load_published, position

    if not any(r.workload.name in BENCHMARK_OF for r in records):
        return [None] * len(records)
    table = load_published()
    return [position(r, table) for r in records]


def _print_tables(
    loaded: list[RunRecord],
    grades: list[Grade],
    inds: list[Indicators],
    ranks: list[str],
    version: str,
    placed: list[Position | None] | None = None,
) -> None:
    from rich.console import Console
    from rich.markup import escape as markup
    from rich.table import Table

    from ecoscore.grading.grade import PROVISIONAL_NOTE
    from ecoscore.grading.indicators import format_quantity as q
    from ecoscore.reports.safe_text import terminal

    def escape(text: str) -> str:
        return markup(terminal(text))

    console = Console()
    table = Table(title=f"ecoscore grades (scale {version})")
    for col in (
        "record",
        "model",
        "workload",
        "grade",
        "probability",
        "energy /1000",
        "CO2e /1000",
        "quality / gate",
        "p90",
        "rank",
    ):
        table.add_column(col)
    paired = any(g.model_grade is not None for g in grades)
    if paired:
        table.add_column("model grade")
        table.add_column("model factor")
    for r, g, i, rk in zip(loaded, grades, inds, ranks, strict=True):
        mark = g.mark if g.letter else "not eligible" if g.reason and "gate" in g.reason else "-"
        if g.letter is None and g.reason and "non-reference data" in g.reason:
            mark = "non-reference"
        cells = [
            escape(r.record_id[:12]),
            escape(r.model.name),
            escape(r.workload.name),
            escape(mark),
            g.probabilities_text,
            q(i.energy_per_1000_j, "J"),
            q(i.carbon.g_co2e_per_1000, "g") if i.carbon else "unknown",
            f"{g.quality_value:.3f} / {g.quality_gate:g}",
            f"{i.latency_p90_ms:.3g} ms" if i.latency_p90_ms is not None else "",
            rk,
        ]
        if paired:
            mg = g.model_grade
            cells += [
                escape(mg.mark) if mg is not None else "",
                f"{mg.factor:.3g}" if mg is not None and mg.factor is not None else "",
            ]
        table.add_row(*cells)
    console.print(table)
    if any(g.provisional for g in grades):
        console.print(PROVISIONAL_NOTE)
    positions = placed or [None] * len(loaded)
    for r, g, i, pos in zip(loaded, grades, inds, positions, strict=True):
        console.print()
        for line in _detail_lines(r, g, i, pos):
            console.print(terminal(line), highlight=False)


def register(app: typer.Typer) -> None:
    add_command(app, "score", score)
