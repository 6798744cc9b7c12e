"""The eco-score label: one matplotlib drawing, saved as SVG (text kept as text) and PNG.

The look follows the labels people already read: the EU energy label's stepped colour bars
(A dark green to E red, Nutri-Score colours) with the grade marked by a black arrow. A
provisional grade (ESTIMATED energy) is drawn as a white arrow with a dashed outline and an
asterisk, and says PROVISIONAL; a record below the quality gate shows NOT ELIGIBLE.

The drawing is 3 x 4 inches, laid out in a 300 x 400 unit box, so that it stays legible at
300 x 400 px (dpi 100). Every string is drawn through ``safe_text.plot_text`` (control,
bidirectional and zero-width characters made visible) with ``parse_math=False`` (no
mathtext), and escaped by matplotlib's SVG writer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ecoscore.errors import UsageError
from ecoscore.files import write_output
from ecoscore.grading.grade import Grade
from ecoscore.grading.indicators import Indicators, format_quantity
from ecoscore.grading.scale import CLASSES, WorkloadScale
from ecoscore.record import RunRecord
from ecoscore.reports.safe_text import plot_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDTH, HEIGHT = 300.0, 400.0
CLASS_COLOURS = {
    "A": "#038141",
    "B": "#85BB2F",
    "C": "#FECB02",
    "D": "#EE8100",
    "E": "#E63E11",
}
CLASS_TEXT = {"A": "white", "B": "white", "C": "#1A1A1A", "D": "white", "E": "white"}
INK = "#1A1A1A"
HEADER = "#0B3D2E"
ESTIMATED_COLOUR = "#B34700"
FORMATS = {".svg": "svg", ".png": "png"}
DEFAULT_PNG_DPI = 200


class LabelError(UsageError):
    """The label cannot be written as asked (unknown format, unwritable path)."""


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bound_text(letter: str, scale: WorkloadScale | None) -> str:
    """The class interval as energy per 1,000 inferences (what the label shows)."""
    if scale is None:
        return ""
    bounds = scale.upper_bounds_j
    i = CLASSES.index(letter)
    if i < len(bounds):
        return f"≤ {format_quantity(bounds[i] * 1000, 'J')}"
    return f"> {format_quantity(bounds[-1] * 1000, 'J')}"


def draw_label(
    record: RunRecord, grade: Grade, indicators: Indicators, scale: WorkloadScale | None
) -> Figure:
    """Draw the label for a graded record (the grade and indicators computed beforehand)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch, Polygon, Rectangle

    fig = Figure(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(HEIGHT, 0)
    ax.axis("off")

    def text(x: float, y: float, s: str, size: float = 7.0, **kw: object) -> None:
        ax.text(
            x,
            y,
            plot_text(s),
            fontsize=size,
            color=kw.pop("color", INK),
            va=kw.pop("va", "center"),
            parse_math=False,
            **kw,
        )

    ax.add_patch(
        FancyBboxPatch(
            (3, 3),
            WIDTH - 6,
            HEIGHT - 6,
            boxstyle="round,pad=0,rounding_size=8",
            facecolor="white",
            edgecolor=INK,
            linewidth=1.2,
        )
    )
    ax.add_patch(Rectangle((3, 3), WIDTH - 6, 34, facecolor=HEADER, edgecolor="none"))
    text(12, 20, "ECOSCORE", 13, color="white", weight="bold")
    text(WIDTH - 12, 14, "AI inference", 7, color="white", ha="right")
    text(WIDTH - 12, 27, "energy label", 7, color="white", ha="right")

    model = f"{_short(record.model.name, 30)}  #{record.model.sha256[:8]}"
    text(12, 48, model, 8, weight="bold")
    text(12, 62, f"{record.workload.name} v{record.workload.version} · {record.workload.metric}", 7)

    _draw_bars(ax, grade, scale, Polygon, text)

    # figures
    y0, dy = 222, 15
    energy = indicators.energy_per_1000_j
    carbon = indicators.carbon
    if grade.probabilities_text:
        text(12, y0 - 12, f"Class probability: {grade.probabilities_text}", 7)
    co2 = (
        f"{format_quantity(carbon.g_co2e_per_1000, 'g')} ({carbon.grid.iso3}, "
        f"{carbon.grid.g_co2e_per_kwh:.0f} g/kWh)"
        if carbon
        else "unknown"
    )
    gate_sign = "≥" if grade.quality_value >= grade.quality_gate else "<"
    p90 = indicators.latency_p90_ms
    emb = indicators.embodied
    embodied = (
        f"{format_quantity(emb.g_co2e_per_1000, 'g')} CO2e"
        + (f" ({emb.entry.footprint_status})" if emb.entry else "")
        if emb.known
        else "unknown"
    )
    rows = [
        ("Energy /1000 inf.", f"{format_quantity(energy, 'J')}  gross"),
        ("CO2e /1000 inf.", co2),
        ("Embodied /1000", embodied),
        (
            "Quality",
            f"{grade.quality_metric} {grade.quality_value:.3f} {gate_sign} "
            f"gate {grade.quality_gate:g}",
        ),
        ("Latency p90", f"{p90:.3g} ms" if p90 is not None else "unknown"),
        ("Hardware", _short(record.device.name, 34)),
        ("Boundary", f"{record.meter.boundary} · {record.engine.name} {record.engine.precision}"),
    ]
    gids = {0: "label-energy", 1: "label-co2e", 3: "label-quality"}
    for i, (key, value) in enumerate(rows):
        y = y0 + 6 + i * dy
        text(12, y, key, 7, color="#555555")
        text(98, y, value, 7.5, weight="bold" if i in (0, 1, 3) else "normal", gid=gids.get(i))
    y = y0 + 6 + len(rows) * dy
    quick = " · quick run" if record.run.quick else ""
    certified = "certifiable" if grade.certifiable else "not certifiable"
    if grade.provisional:
        status = f"ESTIMATED energy · provisional{quick} · {certified}"
        text(12, y, status, 7.5, color=ESTIMATED_COLOUR, weight="bold", gid="label-measurement")
    else:
        status = f"MEASURED energy{quick} · {certified}"
        text(12, y, status, 7.5, color=HEADER, weight="bold", gid="label-measurement")
    sensor = _short(f"{record.meter.name}: {record.meter.source}", 46)
    text(12, y + dy, f"Assurance {grade.assurance} · {sensor}", 7, gid="label-assurance")

    ax.plot([12, WIDTH - 12], [HEIGHT - 34, HEIGHT - 34], color="#BBBBBB", linewidth=0.8)
    date = record.provenance.finished_utc[:10]
    text(12, HEIGHT - 24, f"Scale {grade.scale_version} · {date}", 7.5, gid="label-scale")
    text(
        12,
        HEIGHT - 12,
        f"Verification id {record.record_id[:12]}",
        7.5,
        family="monospace",
        gid="label-verification",
    )
    return fig


def _draw_bars(ax, grade: Grade, scale, Polygon, text) -> None:  # noqa: ANN001
    top, height, gap = 74.0, 22.0, 3.5
    for i, letter in enumerate(CLASSES):
        y = top + i * (height + gap)
        right = 120 + i * 20
        ax.add_patch(
            Polygon(
                [
                    (12, y),
                    (right, y),
                    (right + 10, y + height / 2),
                    (right, y + height),
                    (12, y + height),
                ],
                closed=True,
                facecolor=CLASS_COLOURS[letter],
                edgecolor="none",
            )
        )
        text(20, y + height / 2, letter, 13, color=CLASS_TEXT[letter], weight="bold")
        text(38, y + height / 2 + 0.5, _bound_text(letter, scale), 7, color=CLASS_TEXT[letter])
    marker_x = 236
    if grade.letter is None:
        y = top + 1.5 * (height + gap)
        ax.add_patch(
            Polygon(
                [
                    (marker_x - 6, y),
                    (WIDTH - 12, y),
                    (WIDTH - 12, y + 2 * height),
                    (marker_x - 6, y + 2 * height),
                ],
                closed=True,
                facecolor="#DDDDDD",
                edgecolor=INK,
                linewidth=1.0,
            )
        )
        text(
            (marker_x - 6 + WIDTH - 12) / 2,
            y + height * 0.65,
            "NOT",
            9,
            weight="bold",
            ha="center",
            gid="label-grade",
        )
        text(
            (marker_x - 6 + WIDTH - 12) / 2,
            y + height * 1.35,
            "ELIGIBLE",
            9,
            weight="bold",
            ha="center",
        )
        reason = (grade.reason or "").removeprefix("not eligible: ").removeprefix("no grade: ")
        text(
            12, top + 5 * (height + gap) + 4, _short(reason, 52), 7, color="#B00020", weight="bold"
        )
        return
    i = CLASSES.index(grade.letter)
    y = top + i * (height + gap) - 3
    h = height + 6
    shape = [
        (marker_x - 12, y + h / 2),
        (marker_x, y),
        (WIDTH - 12, y),
        (WIDTH - 12, y + h),
        (marker_x, y + h),
    ]
    centre = (marker_x + WIDTH - 12) / 2
    if grade.provisional:
        ax.add_patch(
            Polygon(
                shape,
                closed=True,
                facecolor="white",
                edgecolor=INK,
                linewidth=1.4,
                linestyle=(0, (3, 2)),
            )
        )
        text(centre, y + h / 2, grade.mark, 17, weight="bold", ha="center", gid="label-grade")
        text(
            centre - 6,
            y + h + 8,
            "PROVISIONAL",
            6.5,
            weight="bold",
            ha="center",
            color=ESTIMATED_COLOUR,
        )
    else:
        ax.add_patch(Polygon(shape, closed=True, facecolor=INK, edgecolor=INK))
        text(
            centre,
            y + h / 2,
            grade.mark,
            17,
            weight="bold",
            ha="center",
            color="white",
            gid="label-grade",
        )


def save_label(fig: Figure, path: Path, png_dpi: int = DEFAULT_PNG_DPI) -> Path:
    """Save the drawing as SVG or PNG (by the file suffix), atomically."""
    import io

    import matplotlib

    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise LabelError(f"{path}: the label is written as .svg or .png, not {path.suffix!r}")
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "ecoscore"}):
        fig.savefig(
            buf,
            format=fmt,
            dpi=png_dpi if fmt == "png" else 100,
            metadata={"Date": None} if fmt == "svg" else None,
        )
    return write_output(path, buf.getvalue(), "label")


def label_svg(record: RunRecord, scale_version: str | None = None) -> bytes:
    """The eco-score label of ``record`` as SVG bytes, graded with ``scale_version``."""
    import tempfile

    from ecoscore.grading.grade import grade_record
    from ecoscore.grading.indicators import compute_indicators
    from ecoscore.grading.scale import DEFAULT_SCALE_VERSION, load_scale

    scale = load_scale(scale_version or DEFAULT_SCALE_VERSION)
    grade = grade_record(record, scale)
    fig = draw_label(record, grade, compute_indicators(record), scale.for_workload(grade.workload))
    with tempfile.TemporaryDirectory(prefix="ecoscore-label-") as tmp:
        path = save_label(fig, Path(tmp) / "label.svg")
        return path.read_bytes()
