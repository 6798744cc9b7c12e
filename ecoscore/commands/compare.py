"""``ecoscore compare``: grade many records with one scale, one table per workload, flags, the
Pareto front, optional jury policy, and exports (HTML report, CSV, Markdown, LaTeX)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ecoscore.commands.common import add_command, say, warn
from ecoscore.errors import EXIT_NOT_ELIGIBLE, EXIT_OK, InputError

if TYPE_CHECKING:
    from ecoscore.jury.compare import Comparison, Row

#: Some submission fails the jury policy (same code as verify's "not eligible").


def _write_text(path: Path, text: str, what: str) -> None:
    from ecoscore.files import write_output

    write_output(path, text.encode("utf-8"), what)
    say(f"wrote {path}", err=True)


#: Rows drawn per workload on the terminal; the files (--csv, --html, ...) hold every row.
TERMINAL_ROWS = 50


def _print_tables(comparison: Comparison) -> None:
    from rich.console import Console
    from rich.markup import escape as markup
    from rich.table import Table

    from ecoscore.reports.safe_text import terminal

    def escape(text: str) -> str:
        return markup(terminal(text))

    console = Console()
    shown = ("rank", "grade", "model", "energy mJ/inference", "quality",
             "latency p50 ms", "signature", "replicated", "flags",
             "record_id")  # fmt: skip
    for w in comparison.workloads():
        table = Table(title=escape(f"{w} (scale {comparison.scale.version})"))
        for c in shown:
            table.add_column(c)
        df = comparison.dataframe(w)
        for row in df.head(TERMINAL_ROWS).to_dict("records"):
            table.add_row(*(escape(str(row[c])) for c in shown))
        console.print(table)
        if len(df) > TERMINAL_ROWS:
            console.print(
                escape(
                    f"{len(df) - TERMINAL_ROWS} more rows for {w} not drawn here (the best "
                    f"{TERMINAL_ROWS} by grade and energy are shown): write them with --csv "
                    "or --html"
                )
            )
        flags = comparison.group_flags(w)
        if flags:
            console.print(f"[yellow]workload flags:[/] {escape(' '.join(flags))}")
        for row in comparison.rows_for(w):
            for rep in row.replications:
                console.print(escape(rep.lines()[0]), soft_wrap=True)


def _label_drawer(scale_version: str):  # noqa: ANN202 - a callable for report_html
    from ecoscore.reports.label import label_svg

    def draw(row: Row) -> bytes | None:
        return label_svg(row.record, scale_version)

    return draw


def _write_plots(comparison: Comparison, plot: Path) -> None:
    from ecoscore.files import write_output
    from ecoscore.reports.pareto import pareto_figure_bytes
    from ecoscore.reports.report_html import pareto_points
    from ecoscore.reports.safe_text import file_name_part

    fmt = "svg" if plot.suffix.lower() == ".svg" else "png"
    names = comparison.workloads()
    for w in names:
        rows = comparison.rows_for(w)
        pts = pareto_points(rows)
        if not pts:
            continue
        part = file_name_part(w)  # a workload name never makes a path
        target = plot if len(names) == 1 else plot.with_name(f"{plot.stem}-{part}{plot.suffix}")
        gate = rows[0].record.workload.quality_gate
        figure = pareto_figure_bytes(pts, w, rows[0].record.quality.metric, gate, fmt)
        write_output(target, figure, "plot")
        say(f"wrote {target}", err=True)


def compare(
    records: Annotated[
        list[Path], typer.Argument(help="Record files, folders of records, or bundles (.zip).")
    ],
    scale: Annotated[str | None, typer.Option(help="Scale version (default: current).")] = None,
    trusted_keys: Annotated[
        Path | None, typer.Option(help="Trusted-keys TOML ([[keys]] name, public_key_b64).")
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="Jury policy TOML: pass or fail per submission.")
    ] = None,
    category: Annotated[
        str | None, typer.Option(help="Applicant category for every submission (policy).")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    csv: Annotated[Path | None, typer.Option(help="Write the table as CSV here.")] = None,
    md: Annotated[Path | None, typer.Option(help="Write the table as Markdown here.")] = None,
    latex: Annotated[Path | None, typer.Option(help="Write the table as LaTeX here.")] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write the Pareto plot (.png or .svg) here.")
    ] = None,
    labels: Annotated[bool, typer.Option(help="Draw the labels in the HTML report.")] = True,
    title: Annotated[str, typer.Option(help="Title of the HTML report.")] = "ecoscore comparison",
) -> None:
    """Compare records: grade, relative rank, flags, Pareto front; optional jury policy."""
    from ecoscore.files import check_output_path
    from ecoscore.grading.scale import DEFAULT_SCALE_VERSION, load_scale
    from ecoscore.jury.compare import build_comparison, iter_entries
    from ecoscore.jury.policy import evaluate, load_policy
    from ecoscore.jury.trust import load_trusted_keys
    from ecoscore.reports.tables import to_csv, to_latex, to_markdown

    outputs = {"HTML report": html, "CSV table": csv, "Markdown table": md,
               "LaTeX table": latex, "plot": plot}  # fmt: skip
    for what, path in outputs.items():
        if path is not None:
            check_output_path(path, what)  # before any work
    pol = load_policy(policy) if policy else None
    scale_obj = load_scale(scale or (pol.scale_version if pol else DEFAULT_SCALE_VERSION))
    trusted = load_trusted_keys(trusted_keys) if trusted_keys else None
    if pol is not None:
        trusted = trusted.merged(pol.trusted) if trusted else pol.trusted

    def entries():  # noqa: ANN202 - report each unreadable file as it is met
        for entry in iter_entries(records):
            if entry.record is None:
                warn(f"skipped: {entry.error}")
            yield entry

    comparison = build_comparison(entries(), scale_obj, trusted)
    if not comparison.rows:
        raise InputError("no readable record among the files given")
    _print_tables(comparison)
    verdicts = evaluate(comparison, pol, category) if pol else None
    for v in verdicts or []:
        say(v.line())
    df = comparison.dataframe()
    if csv:
        _write_text(csv, to_csv(df), "CSV table")
    if md:
        _write_text(md, to_markdown(df), "Markdown table")
    if latex:
        _write_text(latex, to_latex(df), "LaTeX table")
    if plot:
        _write_plots(comparison, plot)
    if html:
        from ecoscore.reports.report_html import render_report

        drawer = _label_drawer(scale_obj.version) if labels else None
        _write_text(html, render_report(comparison, title, verdicts, pol, drawer), "HTML report")
    failed = verdicts is not None and not all(v.passed for v in verdicts)
    raise typer.Exit(EXIT_NOT_ELIGIBLE if failed else EXIT_OK)


def register(app: typer.Typer) -> None:
    add_command(app, "compare", compare)
