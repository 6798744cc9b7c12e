"""A campaign's report: the records of its store through the comparison that ``ecoscore
compare`` makes (``ecoscore.jury.compare``), its exports (``ecoscore.reports``), and a
summary per device class from ``ecoscore.results``.

Rules enforced here:
- no second report: the tables, flags, ranks, HTML, CSV and Markdown are compare's, built
  from the store's ``runs/`` folder with one explicit scale;
- the per-device summary comes from ``ecoscore.results.load`` (the researchers' table): one
  cell per (workload, model) and device class, the single-stream grade and energy.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from ecoscore.jury.compare import Comparison
    from ecoscore.jury.trust import TrustedKeys


def campaign_comparison(
    folder: Path, scale_version: str | None = None, trusted: TrustedKeys | None = None
) -> Comparison:
    """compare's comparison of every record in the campaign's store."""
    from ecoscore.grading.scale import DEFAULT_SCALE_VERSION, load_scale
    from ecoscore.jury.compare import build_comparison, iter_entries

    scale = load_scale(scale_version or DEFAULT_SCALE_VERSION)
    return build_comparison(iter_entries([Path(folder) / "runs"]), scale, trusted)


def device_summary(folder: Path, scale_version: str | None = None) -> pd.DataFrame:
    """Single-stream grade and energy per (workload, model) and device class."""
    from ecoscore.results import load

    df = load(folder, scale=scale_version)
    single = df[df["scenario"] == "single_stream"].copy()
    single["cell"] = [
        f"{g} {e * 1e3:.3g} mJ" if e == e and e is not None else f"{g} (no energy)"
        for g, e in zip(single["grade_mark"], single["energy_per_inference_j"], strict=True)
    ]
    single["device_class"] = single["device_class"].fillna(single["device"])
    table = single.pivot_table(
        index=["workload", "model"],
        columns="device_class",
        values="cell",
        aggfunc=lambda cells: " | ".join(sorted(cells)),
    )
    return table


def write_exports(
    comparison: Comparison,
    title: str,
    html: Path | None = None,
    csv: Path | None = None,
    md: Path | None = None,
) -> list[Path]:
    """compare's exports of the campaign's comparison; returns the files written."""
    from ecoscore.files import write_atomic
    from ecoscore.reports.tables import to_markdown

    written = []
    df = comparison.dataframe()
    if csv is not None:
        write_atomic(csv, df.to_csv(index=False).encode("utf-8"))
        written.append(csv)
    if md is not None:
        write_atomic(md, to_markdown(df).encode("utf-8"))
        written.append(md)
    if html is not None:
        from ecoscore.reports.report_html import render_report

        write_atomic(html, render_report(comparison, title).encode("utf-8"))
        written.append(html)
    return written
