"""The eco-score label: one matplotlib drawing, saved as SVG (text kept as text) and PNG.

The look follows the labels people already read: the EU energy label's stepped colour bars
(A dark green to E red, Nutri-Score colours) with the grade marked by a black arrow. A
provisional grade (ESTIMATED energy) is drawn as a white arrow with a dashed outline and an
asterisk, and says PROVISIONAL; a record below the quality gate shows NOT ELIGIBLE.

What the label says, top to bottom: the model and workload; the class bounds, in energy per
inference; the grade and its class probabilities; the figures (energy per inference, CO2e
and embodied share per 1,000 inferences, quality against the gate, latency, hardware,
engine and precision); and, in its bottom third, what a reviewer checks before trusting
the grade: whether the energy was MEASURED and the record is certifiable (and if not, the
rules that stop it, interference among them), the energy boundary, the sensor, the
assurance level, the signer (or "unsigned"), the scale version and the verification id.

The drawing is 3 x 4 inches, laid out in a 300 x 400 unit box, so that it stays legible at
300 x 400 px (dpi 100). Every text is anchored at its baseline, so that where a text is
drawn never depends on what it says: a report that shows thousands of labels draws each
layout once (``LabelStamps``) and writes each record's texts into it; the result is the
same drawing. Every string is drawn through ``safe_text.plot_text`` (control, bidirectional
and zero-width characters made visible) with ``parse_math=False`` (no mathtext), and
escaped by the SVG writer (or by ``LabelStamps``, which makes the same text).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecoscore.benchmarks.metrics import gate_relation, passes_gate
from ecoscore.errors import UsageError
from ecoscore.files import write_output
from ecoscore.grading.grade import Grade
from ecoscore.grading.indicators import Indicators, format_quantity
from ecoscore.grading.scale import CLASSES, Scale, WorkloadScale
from ecoscore.record import RunRecord
from ecoscore.reports.safe_text import plot_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ecoscore.jury.signing import SignatureCheck

WIDTH, HEIGHT = 300.0, 400.0
CLASS_COLOURS = {
    "A": "#038141",
    "B": "#85BB2F",
    "C": "#FECB02",
    "D": "#EE8100",
    "E": "#E63E11",
}
CLASS_TEXT = {"A": "white", "B": "white", "C": "#1A1A1A", "D": "white", "E": "white"}
#: The model-grade badge's small text: dark where white would be faint at 300 x 400 px.
BADGE_TEXT = {"A": "white", "B": "#1A1A1A", "C": "#1A1A1A", "D": "#1A1A1A", "E": "white"}
INK = "#1A1A1A"
MUTED = "#555555"
HEADER = "#0B3D2E"
PANEL = "#EEF3F0"
ESTIMATED_COLOUR = "#B34700"
BLOCKED_COLOUR = "#B00020"
FORMATS = {".svg": "svg", ".png": "png"}
DEFAULT_PNG_DPI = 200
#: How the status line names the rules that stop certification (others: the rule's name).
RULE_WORDS = {
    "full-run": "quick run",
    "no-interference": "interference",
    "three-valid-windows": "too few windows",
    "not-redirected": "redirected sensors",
    "reference-data": "non-reference data",
    "schema-current": "old schema",
    "demo-workload": "demo workload (uncalibrated scale)",
    "scale-estimated": "scale built on estimates",
}
#: The signer's text fits the panel at this many characters.
SIGNER_CHARS = 34
#: The model factor's text fits beside the model-grade badge at this many characters.
MODEL_FACTOR_CHARS = 38


class LabelError(UsageError):
    """The label cannot be written as asked (unknown format, unwritable path)."""


def _clean(text: str) -> str:
    """One line of text: control, bidirectional and zero-width characters made visible
    (``\\n``, ``\\u202e``), runs of spaces made one."""
    return " ".join(plot_text(text).split())


def _short(text: str, limit: int) -> str:
    text = _clean(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bound_text(letter: str, scale: WorkloadScale | None) -> str:
    """The class interval in energy per inference (what the bars show)."""
    if scale is None:
        return ""
    bounds = scale.upper_bounds_j
    i = CLASSES.index(letter)
    if i < len(bounds):
        return f"≤ {format_quantity(bounds[i], 'J')} per inference"
    return f"> {format_quantity(bounds[-1], 'J')} per inference"


def signer_text(check: SignatureCheck | None) -> str:
    """Who signed, as a label says it: ``unsigned``, a trusted name, or a key id with what
    is known of it."""
    if check is None or check.state == "unsigned":
        return "unsigned"
    key = (check.key_id or "?")[:8]
    return {
        "invalid": f"INVALID signature ({key})",
        "untrusted": f"key {key}, NOT trusted",
        "trusted": f"{_short(check.signer or '', 14)} (trusted, {key})",
        "unchecked": f"key {key}, trust unchecked",
    }[check.state]


@dataclass(frozen=True)
class LabelContent:
    """Everything a label shows. The first four fields decide the layout (which bar the
    arrow points at, provisional or not, eligible or not, the bounds on the bars); every
    other field is one text of the drawing."""

    bounds: tuple[str, ...]
    letter: str | None
    provisional: bool
    certifiable: bool
    mark: str
    model: str
    workload: str
    reason: str
    probability: str
    energy: str
    co2e: str
    embodied: str
    quality: str
    latency: str
    hardware: str
    engine: str
    measurement: str
    quick: bool
    blockers: tuple[str, ...]
    boundary: str
    sensor: str
    assurance: str
    signer: str
    scale: str
    verification: str
    #: A paired record's model grade as its badge shows it (``B*``, ``-`` for none);
    #: None for a record that is not paired (the label has no model-grade row).
    model_mark: str | None = None
    #: The model factor beside the badge (``factor 0.22 (0.12-0.23) vs digits-cnn``), or
    #: why there is no model grade.
    model_factor: str = ""

    @property
    def layout(self) -> tuple[Any, ...]:
        return (
            self.bounds,
            self.letter,
            self.provisional,
            self.certifiable,
            self.mark,
            self.model_mark,
        )

    @property
    def status(self) -> str:
        """``MEASURED energy · certifiable`` or ``... · not certifiable``."""
        head = f"{self.measurement} energy"
        return f"{head} · {'certifiable' if self.certifiable else 'not certifiable'}"

    @property
    def stopped_by(self) -> str:
        """What stops certification, in words (``quick run, interference``)."""
        if self.certifiable:
            return "every rule of ecoscore verify holds"
        words = [RULE_WORDS.get(b, b) for b in self.blockers if b != "assurance-derived"]
        if self.provisional:
            words.insert(0, "estimate")
        elif self.assurance in ("self-reported", "estimated") and "assurance-derived" in (
            self.blockers
        ):
            words.append(f"{self.assurance} figures")
        if self.letter is None and not words:
            words = ["no grade"]
        return "stopped by: " + (", ".join(words) or "see ecoscore verify")

    def texts(self) -> dict[str, str]:
        """The record's texts, by the id (gid) of their element in the SVG."""
        return {
            "label-model": self.model,
            "label-workload": self.workload,
            "label-reason": self.reason,
            "label-probability": self.probability,
            "label-energy": self.energy,
            "label-co2e": self.co2e,
            "label-embodied": self.embodied,
            "label-quality": self.quality,
            "label-latency": self.latency,
            "label-hardware": self.hardware,
            "label-engine": self.engine,
            "label-measurement": self.status,
            "label-blockers": _short(self.stopped_by, 52),
            "label-boundary": self.boundary,
            "label-sensor": self.sensor,
            "label-assurance": self.assurance,
            "label-signer": self.signer,
            "label-scale": self.scale,
            "label-verification": self.verification,
            "label-model-grade": self.model_mark or "",
            "label-model-factor": self.model_factor,
        }

    def judged(
        self, assurance: str, certifiable: bool, signer: str, also: tuple[str, ...] = ()
    ) -> LabelContent:
        """The same label with what a jury's comparison knows: the assurance a trusted
        replication gives, certifiability with the signature checks (``also``: what else
        stops it, e.g. ``signed-by-other-key``), the trusted signer."""
        return replace(
            self,
            assurance=assurance,
            certifiable=certifiable,
            signer=_short(signer, SIGNER_CHARS),
            blockers=self.blockers + tuple(a for a in also if a not in self.blockers),
        )


def label_content(
    record: RunRecord,
    grade: Grade,
    indicators: Indicators,
    scale: WorkloadScale | None,
    signer: str | None = None,
) -> LabelContent:
    """What the label of ``record`` shows. ``signer`` defaults to what the record's own
    signature says (checked, but not against trusted keys)."""
    if signer is None:
        from ecoscore.jury.signing import check_signature

        signer = signer_text(check_signature(record, None))
    carbon, emb = indicators.carbon, indicators.embodied
    co2 = (
        f"{format_quantity(carbon.g_co2e_per_1000, 'g')} ({carbon.grid.iso3}, "
        f"{carbon.grid.g_co2e_per_kwh:.0f} g/kWh)"
        if carbon
        else "unknown"
    )
    embodied = (
        f"{format_quantity(emb.g_co2e_per_1000, 'g')} CO2e"
        + (f" ({emb.entry.footprint_status})" if emb.entry else "")
        if emb.known
        else "unknown"
    )
    passed = passes_gate(grade.quality_metric, grade.quality_value, grade.quality_gate)
    relation = gate_relation(grade.quality_metric, passed)
    gate_sign = {">=": "≥", "<=": "≤"}.get(relation, relation)
    p90 = indicators.latency_p90_ms
    energy = indicators.energy_per_inference_j
    e = record.engine
    reason = ""
    if grade.letter is None:
        reason = (grade.reason or "").removeprefix("not eligible: ").removeprefix("no grade: ")
    m = record.meter
    mg = grade.model_grade
    model_mark, model_factor = None, ""
    if mg is not None:
        model_mark = mg.mark
        if mg.letter is None:
            model_factor = _short(
                (mg.reason or "")
                .removeprefix("no model grade: ")
                .removeprefix("no grade: ")
                .removeprefix("not eligible: "),
                MODEL_FACTOR_CHARS,
            )
        else:
            lo, hi = mg.factor_ci or (mg.factor, mg.factor)
            model_factor = _short(
                f"factor {mg.factor:.2g} ({lo:.2g}-{hi:.2g}) vs {mg.reference}",
                MODEL_FACTOR_CHARS,
            )
    return LabelContent(
        bounds=tuple(_bound_text(c, scale) for c in CLASSES),
        letter=grade.letter,
        provisional=grade.provisional,
        certifiable=grade.certifiable,
        mark=grade.mark,
        model=f"{_short(record.model.name, 30)}  #{record.model.sha256[:8]}",
        workload=_short(
            f"{record.workload.name} v{record.workload.version} · {record.workload.metric}", 50
        ),
        reason=_short(reason, 52),
        probability=(
            f"Class probability: {grade.probabilities_text}" if grade.probabilities_text else ""
        ),
        energy=f"{format_quantity(energy, 'J')} per inference, gross",
        co2e=co2,
        embodied=embodied,
        quality=(
            f"{grade.quality_metric} {grade.quality_value:.3f} {gate_sign} "
            f"gate {grade.quality_gate:g}"
        ),
        latency=f"{p90:.3g} ms" if p90 is not None else "unknown",
        hardware=_short(record.device.name, 34),
        engine=_short(f"{e.name} {e.version} · {e.precision} · {e.device}", 34),
        measurement=m.measurement,
        quick=record.run.quick,
        blockers=tuple(grade.failed_rules) + tuple(grade.scale_blockers),
        boundary=_short(m.boundary, 34),
        sensor=_short(f"{m.name}: {m.source}", 36),
        assurance=grade.assurance or "unknown",
        signer=_short(signer, SIGNER_CHARS),
        scale=f"{grade.scale_version} · run {record.provenance.finished_utc[:10]}",
        verification=record.record_id[:12],
        model_mark=model_mark,
        model_factor=model_factor,
    )


def draw_label(
    record: RunRecord,
    grade: Grade,
    indicators: Indicators,
    scale: WorkloadScale | None,
    signer: str | None = None,
) -> Figure:
    """Draw the label for a graded record (the grade and indicators computed beforehand)."""
    return draw_content(label_content(record, grade, indicators, scale, signer))


#: Rows of figures: (key shown, id of the value's text).
FIGURE_ROWS = (
    ("Energy", "label-energy"),
    ("CO2e /1000 inf.", "label-co2e"),
    ("Embodied /1000", "label-embodied"),
    ("Quality", "label-quality"),
    ("Latency p90", "label-latency"),
    ("Hardware", "label-hardware"),
    ("Engine", "label-engine"),
)
#: Rows of the reviewer's panel, under the status line.
PANEL_ROWS = (
    ("Boundary", "label-boundary"),
    ("Sensor", "label-sensor"),
    ("Assurance", "label-assurance"),
    ("Signed by", "label-signer"),
    ("Scale", "label-scale"),
    ("Verification id", "label-verification"),
)
_BOLD = {"label-energy", "label-co2e", "label-quality", "label-assurance"}


def draw_content(content: LabelContent, texts: dict[str, str] | None = None) -> Figure:
    """Draw a label. ``texts`` replaces the record's texts (``LabelStamps`` draws a layout
    with placeholders in them)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch, Rectangle

    words = texts if texts is not None else content.texts()
    fig = Figure(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(HEIGHT, 0)
    ax.axis("off")

    static = iter(range(1000))

    def text(x: float, y: float, s: str, size: float = 7.0, **kw: Any) -> None:
        """``y`` is the text's middle; it is drawn on its baseline, half its size lower.
        Every text has an id, so that the ids never depend on which texts are empty."""
        kw.setdefault("gid", f"static-{next(static)}")
        ax.text(
            x,
            y + size * 0.5,
            plot_text(s),
            fontsize=size,
            color=kw.pop("color", INK),
            va="baseline",
            parse_math=False,
            clip_on=False,
            **kw,
        )

    def field(x: float, y: float, gid: str, size: float = 7.0, **kw: Any) -> None:
        text(x, y, words[gid], size, gid=gid, **kw)

    ax.add_patch(
        FancyBboxPatch(
            (3, 3),
            WIDTH - 6,
            HEIGHT - 6,
            boxstyle="round,pad=0,rounding_size=8",
            facecolor="white",
            edgecolor=INK,
            linewidth=1.2,
            clip_on=False,
        )
    )
    ax.add_patch(Rectangle((3, 3), WIDTH - 6, 34, facecolor=HEADER, edgecolor="none"))
    text(12, 20, "ECOSCORE", 13, color="white", weight="bold")
    text(WIDTH - 12, 14, "AI inference", 7, color="white", ha="right")
    text(WIDTH - 12, 27, "energy label", 7, color="white", ha="right")

    field(12, 47, "label-model", 8, weight="bold")
    field(12, 60, "label-workload", 7)
    _draw_bars(ax, content, text, field)
    field(12, 193, "label-probability", 7)
    field(12, 193, "label-reason", 7, color=BLOCKED_COLOUR, weight="bold")

    y0, dy = 208.0, 12.0
    if content.model_mark is not None:  # a paired record: the model grade, then the figures
        y0, dy = 206.0, 10.5
        _draw_model_grade(ax, content, text, field, y0)
        y0 += dy
    for i, (key, gid) in enumerate(FIGURE_ROWS):
        y = y0 + i * dy
        text(12, y, key, 7, color=MUTED)
        field(100, y, gid, 7.5 if gid in _BOLD else 7, weight="bold" if gid in _BOLD else "normal")

    # the reviewer's panel: the bottom third
    top = 295.0
    ax.add_patch(
        FancyBboxPatch(
            (8, top - 7),
            WIDTH - 16,
            HEIGHT - top - 4,
            boxstyle="round,pad=0,rounding_size=5",
            facecolor=PANEL,
            edgecolor="none",
            clip_on=False,
        )
    )
    if content.provisional:
        colour = ESTIMATED_COLOUR
    else:
        colour = HEADER if content.certifiable else BLOCKED_COLOUR
    field(14, top, "label-measurement", 7.5, color=colour, weight="bold")
    field(14, top + 12, "label-blockers", 7, color=colour if not content.certifiable else MUTED)
    for i, (key, gid) in enumerate(PANEL_ROWS):
        y = top + 24.5 + i * 12.3
        text(14, y, key, 7, color=MUTED)
        mono = {"family": "monospace"} if gid == "label-verification" else {}
        bold = "bold" if gid in _BOLD else "normal"
        field(100, y, gid, 7.5 if gid in _BOLD else 7, weight=bold, **mono)
    return fig


def _draw_model_grade(ax: Any, content: LabelContent, text: Any, field: Any, y: float) -> None:
    """The model grade row of a paired record: a badge in its class colour (dashed when
    provisional, grey when there is none) and the factor beside it."""
    from matplotlib.patches import FancyBboxPatch

    mark = content.model_mark or "-"
    letter = mark[0] if mark[0] in CLASS_COLOURS else None
    provisional = mark.endswith("*")
    text(12, y, "Model grade", 7, color=MUTED)
    ax.add_patch(
        FancyBboxPatch(
            (98, y - 6),
            24,
            12,
            boxstyle="round,pad=0,rounding_size=2",
            facecolor=CLASS_COLOURS[letter] if letter else "#DDDDDD",
            edgecolor=INK,
            linewidth=0.9 if provisional else 0.0,
            linestyle=(0, (2, 1.5)) if provisional else "solid",
            clip_on=False,
        )
    )
    colour = BADGE_TEXT[letter] if letter else INK
    field(110, y, "label-model-grade", 8.5, weight="bold", ha="center", color=colour)
    field(126, y, "label-model-factor", 6.5)


def _draw_bars(ax: Any, content: LabelContent, text: Any, field: Any) -> None:
    from matplotlib.patches import Polygon

    top, height, gap = 72.0, 19.0, 3.5
    for i, letter in enumerate(CLASSES):
        y = top + i * (height + gap)
        right = 146 + i * 16
        ax.add_patch(
            Polygon(
                [
                    (12, y),
                    (right, y),
                    (right + 9, y + height / 2),
                    (right, y + height),
                    (12, y + height),
                ],
                closed=True,
                facecolor=CLASS_COLOURS[letter],
                edgecolor="none",
                clip_on=False,
            )
        )
        text(19, y + height / 2, letter, 12, color=CLASS_TEXT[letter], weight="bold")
        text(34, y + height / 2, content.bounds[i], 6.5, color=CLASS_TEXT[letter])
    marker_x = 240
    if content.letter is None:
        y = top + 1.5 * (height + gap)
        left = marker_x - 16
        ax.add_patch(
            Polygon(
                [
                    (left, y),
                    (WIDTH - 12, y),
                    (WIDTH - 12, y + 2 * height),
                    (left, y + 2 * height),
                ],
                closed=True,
                facecolor="#DDDDDD",
                edgecolor=INK,
                linewidth=1.0,
                clip_on=False,
            )
        )
        centre = (left + WIDTH - 12) / 2
        text(centre, y + height * 0.6, "NOT", 8.5, weight="bold", ha="center", gid="label-grade")
        text(centre, y + height * 1.4, "ELIGIBLE", 8.5, weight="bold", ha="center")
        return
    i = CLASSES.index(content.letter)
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
    if content.provisional:
        ax.add_patch(
            Polygon(
                shape,
                closed=True,
                facecolor="white",
                edgecolor=INK,
                linewidth=1.4,
                linestyle=(0, (3, 2)),
                clip_on=False,
            )
        )
        text(centre, y + h / 2, content.mark, 16, weight="bold", ha="center", gid="label-grade")
        text(
            centre - 6,
            y + h + 7,
            "PROVISIONAL",
            6.5,
            weight="bold",
            ha="center",
            color=ESTIMATED_COLOUR,
        )
    else:
        ax.add_patch(Polygon(shape, closed=True, facecolor=INK, edgecolor=INK, clip_on=False))
        text(
            centre,
            y + h / 2,
            content.mark,
            16,
            weight="bold",
            ha="center",
            color="white",
            gid="label-grade",
        )


def figure_bytes(fig: Figure, fmt: str, png_dpi: int = DEFAULT_PNG_DPI) -> bytes:
    """The drawing as SVG (text kept as text, reproducible) or PNG bytes."""
    import io

    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "ecoscore"}):
        fig.savefig(
            buf,
            format=fmt,
            dpi=png_dpi if fmt == "png" else 100,
            metadata={"Date": None} if fmt == "svg" else None,
        )
    return buf.getvalue()


def save_label(fig: Figure, path: Path, png_dpi: int = DEFAULT_PNG_DPI) -> Path:
    """Save the drawing as SVG or PNG (by the file suffix), atomically; a path that cannot
    be written is an ``OutputError``."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise LabelError(f"{path}: the label is written as .svg or .png, not {path.suffix!r}")
    return write_output(path, figure_bytes(fig, fmt, png_dpi), "label")


def label_svg(record: RunRecord, scale_version: str | Scale | None = None) -> bytes:
    """The eco-score label of ``record`` as SVG bytes, graded with a scale (a published
    version, or a loaded scale such as a call's)."""
    from ecoscore.grading.grade import grade_record
    from ecoscore.grading.indicators import compute_indicators
    from ecoscore.grading.scale import DEFAULT_SCALE_VERSION, Scale, load_scale

    if isinstance(scale_version, Scale):
        scale = scale_version
    else:
        scale = load_scale(scale_version or DEFAULT_SCALE_VERSION)
    grade = grade_record(record, scale)
    fig = draw_label(record, grade, compute_indicators(record), scale.for_workload(grade.workload))
    return figure_bytes(fig, "svg")


# -- many labels: each layout drawn once ------------------------------------------------

_PLACEHOLDER = "@@{}@@"
_FIELD_RE = re.compile(
    r'<g id="(label-[a-z0-9-]+)">\s*<text style="([^"]*)" x="([^"]*)" y="([^"]*)"'
    r"[^>]*>@@(\d+)@@</text>\s*</g>\s*"
)


def _escape(text: str) -> str:
    """A text as ``draw_content`` draws it and matplotlib's SVG writer writes it."""
    return html.escape(plot_text(text), quote=False)


@dataclass(frozen=True)
class _Field:
    gid: str
    style: str
    x: str
    y: str
    group: str  # the field's whole <g> element in the layout's SVG, placeholder inside


@dataclass(frozen=True)
class _Layout:
    """One layout drawn with placeholders: the SVG split into the text around each field."""

    svg: str  # the whole drawing, placeholders in place
    #: In the order of LabelContent.texts(); None for a text this layout does not draw
    #: (the not-eligible reason of a graded record).
    fields: tuple[_Field | None, ...]
    static: str  # the drawing without its record texts (inner SVG content)


class LabelStamps:
    """Labels of many records: each layout (``LabelContent.layout``) is drawn once by
    matplotlib, with placeholders for the record's texts; a record's label is that drawing
    with its texts written in. ``svg`` gives the same SVG as ``draw_content`` does;
    ``inline`` gives a small inline ``<svg>`` for an HTML page that refers to its layout,
    defined once by ``defs``."""

    def __init__(self) -> None:
        self._layouts: dict[tuple[Any, ...], _Layout] = {}
        self._ids: dict[tuple[Any, ...], str] = {}
        self._classes: dict[str, str] = {}

    @property
    def layouts_drawn(self) -> int:
        return len(self._layouts)

    def _layout(self, content: LabelContent) -> _Layout:
        key = content.layout
        found = self._layouts.get(key)
        if found is not None:
            return found
        gids = list(content.texts())
        marks = {gid: _PLACEHOLDER.format(i) for i, gid in enumerate(gids)}
        svg = figure_bytes(draw_content(content, marks), "svg").decode("utf-8")
        found_fields: dict[int, _Field] = {}
        for m in _FIELD_RE.finditer(svg):
            gid, style, x, y, n = m.groups()
            found_fields[int(n)] = _Field(gid, style, x, y, m.group(0))
        if not found_fields or not set(found_fields) <= set(range(len(gids))):
            raise RuntimeError("matplotlib's SVG writer changed: label fields not found")
        inner = svg[svg.index("<defs>") : svg.rindex("</svg>")]
        inner = re.sub(r"<style[^>]*>.*?</style>", "", inner, flags=re.S)
        static = _FIELD_RE.sub("", inner)
        if re.search(r"@@\d+@@", static):
            raise RuntimeError("matplotlib's SVG writer changed: a label field was not found")
        layout = _Layout(svg, tuple(found_fields.get(i) for i in range(len(gids))), static)
        self._layouts[key] = layout
        self._ids[key] = f"eco-layout-{len(self._ids)}"
        return layout

    def svg(self, content: LabelContent) -> str:
        """The label of ``content`` as a standalone SVG document."""
        layout = self._layout(content)
        out = layout.svg
        for i, (f, value) in enumerate(zip(layout.fields, content.texts().values(), strict=True)):
            if f is None:
                continue
            # an empty text is not drawn at all, as matplotlib does
            group = f.group.replace(_PLACEHOLDER.format(i), _escape(value)) if value else ""
            out = out.replace(f.group, group, 1)
        return out

    def _class(self, style: str) -> str:
        name = self._classes.get(style)
        if name is None:
            name = self._classes[style] = f"eco-t{len(self._classes)}"
        return name

    def inline(self, content: LabelContent, title: str) -> str:
        """The label as an inline ``<svg>`` element that uses its layout (``defs``)."""
        layout = self._layout(content)
        ident = self._ids[content.layout]
        texts = "".join(
            f'<text class="{self._class(f.style)}" x="{f.x}" y="{f.y}">{_escape(v)}</text>'
            for f, v in zip(layout.fields, content.texts().values(), strict=True)
            if v and f is not None
        )
        return (
            f'<svg class="eco-label" viewBox="0 0 216 288" role="img" '
            f'aria-label="{html.escape(_clean(title))}"><use href="#{ident}"/>{texts}</svg>'
        )

    def defs(self) -> str:
        """One hidden ``<svg>`` defining every layout used so far (ids made unique)."""
        parts = []
        for key, layout in self._layouts.items():
            ident = self._ids[key]
            body = re.sub(r'id="([^"]+)"', rf'id="{ident}-\1"', layout.static)
            body = body.replace("url(#", f"url(#{ident}-")
            parts.append(f'<g id="{ident}">{body}</g>')
        return (
            '<svg width="0" height="0" style="position:absolute" aria-hidden="true" '
            f'focusable="false"><defs>{"".join(parts)}</defs></svg>'
        )

    def css(self) -> str:
        """The text styles of the inline labels, as CSS classes."""
        rules = "".join(f".eco-label .{c}{{{s}}}" for s, c in self._classes.items())
        return "svg.eco-label *{stroke-linejoin:round;stroke-linecap:butt}" + rules


def label_keeper(scale: Scale, location: str | None = None) -> Callable[[RunRecord, Grade], Any]:
    """What ``build_comparison(keep=...)`` keeps of each record for its label: the label's
    content (a few strings), computed while the full record is at hand. The embodied table
    and grid intensity are read once."""
    from ecoscore.grading.carbon import DEFAULT_LOCATION
    from ecoscore.grading.embodied import load_embodied_table
    from ecoscore.grading.indicators import compute_indicators

    table = load_embodied_table()
    where = location or DEFAULT_LOCATION

    def keep(record: RunRecord, grade: Grade) -> LabelContent:
        indicators = compute_indicators(record, location=where, embodied_table=table)
        return label_content(record, grade, indicators, scale.for_workload(grade.workload), "")

    return keep
