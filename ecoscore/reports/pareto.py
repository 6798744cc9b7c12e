"""The Pareto front of quality against energy per inference, and its plot.

A point is on the front when no other point has at most its energy and at least its
quality, with one of the two strictly better ("at least" is "at most" for a metric where
lower is better, RMSE). The plot puts energy per inference (log scale) on x and quality on
y, draws the workload's quality gate, and marks the front. With many points, only the front
is named (a call's thousands of names would hide the plot).

The front is found in O(n log n) (a sweep by increasing energy), so that a call's tens of
thousands of records cost no more than sorting them.

A record's numbers are untrusted: a point whose energy or quality is not finite or is out
of what an axis can draw (``drawable``) is left out of the plot, which says how many were;
a gate that cannot be drawn is not drawn. Every text is drawn through
``safe_text.plot_text`` with ``parse_math=False``.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from ecoscore.reports.safe_text import plot_text

#: Energies per inference drawn (joules): beyond these a log axis cannot be laid out.
PLOT_ENERGY_RANGE_J = (1e-15, 1e6)
#: Largest quality magnitude drawn (a metric is of order 1).
PLOT_QUALITY_LIMIT = 1e6


@dataclass(frozen=True)
class Point:
    key: str  # record_id
    label: str  # model name (user-supplied: drawn as plain text, no mathtext)
    energy_j: float
    quality: float
    higher_is_better: bool = True

    @property
    def goodness(self) -> float:
        """The quality, signed so that more is better."""
        return self.quality if self.higher_is_better else -self.quality


def dominates(a: Point, b: Point) -> bool:
    """``a`` is at least as good as ``b`` on both axes and strictly better on one."""
    no_worse = a.energy_j <= b.energy_j and a.goodness >= b.goodness
    better = a.energy_j < b.energy_j or a.goodness > b.goodness
    return no_worse and better


#: Above this many points, only the points on the front are named on the plot.
NAMED_POINTS = 30


def pareto_front(points: list[Point]) -> list[Point]:
    """The non-dominated points, by increasing energy (then decreasing goodness: quality,
    or minus quality for a metric where lower is better).

    A point is dominated by one of lower energy and at least its goodness, or by one of the
    same energy and higher goodness: sweep the points by increasing energy, keeping the best
    goodness seen at a strictly lower energy."""
    ordered = sorted(points, key=lambda p: (p.energy_j, -p.goodness))
    front: list[Point] = []
    best_lower = -math.inf
    i = 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j].energy_j == ordered[i].energy_j:
            j += 1
        top = ordered[i].goodness  # the group's best: it comes first
        front.extend(p for p in ordered[i:j] if p.goodness > best_lower and p.goodness >= top)
        best_lower = max(best_lower, top)
        i = j
    return front


def drawable(p: Point) -> bool:
    """Whether a point can be drawn: finite, positive energy and quality within range."""
    low, high = PLOT_ENERGY_RANGE_J
    return (
        math.isfinite(p.energy_j)
        and low <= p.energy_j <= high
        and math.isfinite(p.quality)
        and abs(p.quality) <= PLOT_QUALITY_LIMIT
    )


def pareto_figure_bytes(
    points: list[Point],
    title: str,
    metric: str,
    gate: float | None,
    fmt: str = "png",
) -> bytes:
    """The plot as PNG or SVG bytes (no fonts or files fetched from anywhere)."""
    import matplotlib
    from matplotlib.figure import Figure

    drawn = [p for p in points if drawable(p)]
    left_out = len(points) - len(drawn)
    points = drawn
    if gate is not None and not (math.isfinite(gate) and abs(gate) <= PLOT_QUALITY_LIMIT):
        gate = None
    front = pareto_front(points)
    on_front = {p.key for p in front}
    fig = Figure(figsize=(7.5, 4.5), dpi=100)
    ax = fig.add_subplot()
    others = [p for p in points if p.key not in on_front]
    ax.scatter(
        [p.energy_j * 1e3 for p in others],
        [p.quality for p in others],
        color="#8a8a8a",
        label="dominated",
        zorder=2,
    )
    ax.plot(
        [p.energy_j * 1e3 for p in front],
        [p.quality for p in front],
        marker="o",
        color="#038141",
        label="Pareto front",
        zorder=3,
    )
    for p in points if len(points) <= NAMED_POINTS else front[:NAMED_POINTS]:
        ax.annotate(
            plot_text(p.label, 40),
            (p.energy_j * 1e3, p.quality),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=7,
            parse_math=False,
        )
    if gate is not None:
        ax.axhline(gate, color="#E63E11", linestyle="--", linewidth=1, label=f"gate {gate:g}")
    if points:
        ax.set_xscale("log")
    ax.set_xlabel("energy per inference, single-stream (mJ, log scale)")
    ax.set_ylabel(plot_text(metric, 60), parse_math=False)
    shown = plot_text(title, 80)
    if left_out:
        shown += f" ({left_out} record(s) not drawn: energy or quality out of range)"
    ax.set_title(shown, parse_math=False)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "ecoscore", "svg.fonttype": "path"}):
        fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()
