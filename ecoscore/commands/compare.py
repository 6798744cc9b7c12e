"""``ecoscore compare``: grade many records with one scale, one table per workload, flags, the
Pareto front, optional jury policy, and exports (HTML report, CSV, Markdown, LaTeX).

Quick runs are shown in a table of their own, unranked. Each record is checked and graded
as it is read, and only what the tables and labels need is kept (ecoscore.jury.summary);
labels are drawn once per layout (ecoscore.reports.label.LabelStamps)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ecoscore.commands.common import ScaleFileOption, add_command, say, scale_from, warn
from ecoscore.errors import EXIT_NOT_ELIGIBLE, EXIT_OK, InputError

if TYPE_CHECKING:
    from ecoscore.jury.compare import Comparison, Row


def _write_text(path: Path, text: str, what: str) -> None:
    from ecoscore.files import write_output

    write_output(path, text.encode("utf-8"), what)
    say(f"wrote {path}", err=True)


#: Rows drawn per workload on the terminal; the files (--csv, --html, ...) hold every row.
TERMINAL_ROWS = 50


SHOWN = ("rank", "grade", "model grade", "model factor", "model", "engine", "precision",
         "energy mJ/inference", "CI level", "quality", "latency p50 ms", "assurance",
         "certifiable", "signature", "replicated", "flags", "record_id")  # fmt: skip


#: Columns shown only when a row has something in them (model grade: paired records).
SOMETIMES = ("signature", "replicated", "model grade", "model factor")


def _escape(text: str) -> str:
    """Text from records, safe for a terminal and for rich markup."""
    from rich.markup import escape as markup

    from ecoscore.reports.safe_text import terminal

    return markup(terminal(text))


def _print_table(console: object, title: str, rows: list[Row], what: str) -> None:
    from rich.table import Table

    from ecoscore.jury.compare import table_row

    table = Table(title=_escape(title))
    cells = [table_row(row) for row in rows[:TERMINAL_ROWS]]
    # signature, replication and model-grade columns only when they say something
    shown = [c for c in SHOWN if c not in SOMETIMES or any(r[c] for r in cells)]
    for c in shown:
        table.add_column(c)
    for r in cells:
        table.add_row(*(_escape(str(r[c])) for c in shown))
    console.print(table)  # type: ignore[attr-defined]
    if len(rows) > TERMINAL_ROWS:
        console.print(  # type: ignore[attr-defined]
            _escape(
                f"{len(rows) - TERMINAL_ROWS} more {what} not drawn here (the first "
                f"{TERMINAL_ROWS} in table order are shown): write them with --csv or --html"
            )
        )


def _print_tables(comparison: Comparison) -> None:
    from rich.console import Console

    escape = _escape
    console = Console() if sys.stdout.isatty() else Console(width=200)
    for w in comparison.workloads():
        rows = comparison.rows_for(w)
        main = [r for r in rows if r.section != "quick"]
        quick = [r for r in rows if r.section == "quick"]
        scale = comparison.scale.version
        if main:
            _print_table(console, f"{w} (scale {scale})", main, f"rows for {w}")
        if quick:
            _print_table(
                console,
                f"{w}: quick runs (not ranked, not on the Pareto front)",
                quick,
                f"quick runs for {w}",
            )
        flags = comparison.group_flags(w)
        if flags:
            console.print(f"[yellow]workload flags:[/] {escape(' '.join(flags))}")
        for row in rows:
            for rep in row.replications:
                console.print(escape(rep.lines()[0]), soft_wrap=True)
            for rep in row.quick_looks:
                console.print(
                    escape(f"quick look (does not count): {rep.lines()[0]}"), soft_wrap=True
                )
            if row.interference and row.section in ("run", "quick"):
                console.print(
                    f"[yellow]interference[/] {escape(row.record.model.name)} "
                    f"({row.record.record_id[:12]}): {escape('; '.join(row.interference))}",
                    soft_wrap=True,
                )


def _write_plots(comparison: Comparison, plot: Path) -> None:
    from ecoscore.files import write_output
    from ecoscore.reports.pareto import pareto_figure_bytes
    from ecoscore.reports.report_html import pareto_points
    from ecoscore.reports.safe_text import file_name_part

    fmt = "svg" if plot.suffix.lower() == ".svg" else "png"
    names = comparison.workloads()
    for w in names:
        boundaries = comparison.boundaries(w)
        for b in boundaries:  # one plot per boundary: never one front across boundaries
            rows = comparison.rows_for(w, b)
            pts = pareto_points(rows)
            if not pts:
                continue
            stem = plot.stem
            if len(names) > 1:
                stem += f"-{file_name_part(w)}"  # a workload name never makes a path
            if len(boundaries) > 1:
                stem += f"-{file_name_part(b)}"
            target = plot.with_name(f"{stem}{plot.suffix}")
            title = w if len(boundaries) == 1 else f"{w} ({b})"
            gate = rows[0].record.workload.quality_gate
            figure = pareto_figure_bytes(pts, title, rows[0].record.quality.metric, gate, fmt)
            write_output(target, figure, "plot")
            say(f"wrote {target}", err=True)


def compare(
    records: Annotated[
        list[Path], typer.Argument(help="Record files, folders of records, or bundles (.zip).")
    ],
    scale: Annotated[str | None, typer.Option(help="Scale version (default: current).")] = None,
    workload_file: Annotated[
        list[Path] | None,
        typer.Option(help="Workload file(s) records were run from (a bundle's own count too)."),
    ] = None,
    scale_file: ScaleFileOption = None,
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
    scale_obj = scale_from(scale, scale_file, pol.scale_version if pol else None)
    if pol is not None and scale_file is not None and pol.scale_version != scale_obj.version:
        warn(f"grading with {scale_obj.version} from {scale_file}, not the policy's scale")
    trusted = load_trusted_keys(trusted_keys) if trusted_keys else None
    if pol is not None:
        trusted = trusted.merged(pol.trusted) if trusted else pol.trusted

    def entries():  # noqa: ANN202 - report each unreadable file as it is met
        for entry in iter_entries(records):
            if entry.record is None:
                warn(f"skipped: {entry.error}")
            yield entry

    from ecoscore.benchmarks.workload_file import definitions_of

    definitions = definitions_of(p.read_bytes() for p in workload_file or [])
    keep = None
    if html and labels:
        from ecoscore.reports.label import label_keeper

        keep = label_keeper(scale_obj)
    comparison = build_comparison(entries(), scale_obj, trusted, definitions=definitions, keep=keep)
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
        from ecoscore.files import write_output
        from ecoscore.reports.report_html import report_parts

        parts = report_parts(comparison, title, verdicts, pol, labels)
        write_output(html, (p.encode("utf-8") for p in parts), "HTML report")
        say(f"wrote {html}", err=True)
    failed = verdicts is not None and not all(v.passed for v in verdicts)
    raise typer.Exit(EXIT_NOT_ELIGIBLE if failed else EXIT_OK)


def register(app: typer.Typer) -> None:
    add_command(app, "compare", compare)
