"""The comparison table as text: Markdown and LaTeX (CSV is pandas' own writer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def to_markdown(df: pd.DataFrame) -> str:
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text.replace("\n", " "))


def to_latex(df: pd.DataFrame, caption: str = "ecoscore comparison") -> str:
    cols = [str(c) for c in df.columns]
    lines = [
        r"\begin{table}",
        r"\centering",
        r"\begin{tabular}{" + "l" * len(cols) + "}",
        r"\hline",
        " & ".join(latex_escape(c) for c in cols) + r" \\",
        r"\hline",
    ]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(latex_escape(str(v)) for v in row) + r" \\")
    lines += [
        r"\hline",
        r"\end{tabular}",
        r"\caption{" + latex_escape(caption) + "}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"
