"""The comparison table as text: CSV, Markdown and LaTeX. Every cell goes through the
escaping of its format (ecoscore.reports.safe_text): CSV cells never start a formula,
Markdown cells never make markup, LaTeX cells never make commands."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from ecoscore.reports.safe_text import csv_cell, latex_text, markdown_cell

if TYPE_CHECKING:
    import pandas as pd


def to_csv(df: pd.DataFrame) -> str:
    """The table as CSV (RFC 4180 quoting by the csv module, cells neutralised)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_cell(c) for c in df.columns])
    for row in df.itertuples(index=False):
        writer.writerow([csv_cell(v) for v in row])
    return buf.getvalue()


def to_markdown(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(markdown_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(markdown_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    """LaTeX text of ``text`` (``ecoscore.reports.safe_text.latex_text``)."""
    return latex_text(text)


def to_latex(df: pd.DataFrame, caption: str = "ecoscore comparison") -> str:
    cols = [str(c) for c in df.columns]
    lines = [
        r"\begin{table}",
        r"\centering",
        r"\begin{tabular}{" + "l" * len(cols) + "}",
        r"\hline",
        " & ".join(latex_text(c) for c in cols) + r" \\",
        r"\hline",
    ]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(latex_text(v) for v in row) + r" \\")
    lines += [
        r"\hline",
        r"\end{tabular}",
        r"\caption{" + latex_text(caption) + "}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"
