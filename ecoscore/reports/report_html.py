"""The jury report: one self-contained HTML file (inline CSS, plots and labels as data: URIs,
no network), readable offline and printable.

Every string that comes from a record or a file name is escaped by
``ecoscore.reports.safe_text.html_text`` (control, bidirectional and zero-width characters
made visible, then ``html.escape``); links go through ``safe_href``. The page's only
script is allowed by a Content-Security-Policy hash, so that even markup that slipped
through could not run. The script sets ``data-report-ready`` on <html> once the
page has been laid out; a checker can tell an error-free render from a broken one.

The report carries its own methodology: what is graded, the scale's thresholds for every
workload shown, what a class probability, a confidence level, an assurance level and
"certifiable" mean. Nothing links to a file beside it, so moving the report breaks nothing.

Each workload has two tables: full runs (ranked), replications and records that fail their
integrity check; then quick (smoke) runs, apart and never ranked nor on the Pareto front.
Labels are inline SVG: each label layout is drawn once (ecoscore.reports.label.LabelStamps)
and every record's label writes its texts into it, so that thousands of labels stay fast
to write and small to read.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime

from ecoscore.benchmarks.metrics import higher_is_better
from ecoscore.checks import ASSURANCE_LEVELS
from ecoscore.grading.indicators import format_quantity
from ecoscore.grading.scale import CLASSES
from ecoscore.jury.compare import COLUMNS, FLAGS, Comparison, Row, ci_level_text
from ecoscore.jury.policy import Policy, Verdict
from ecoscore.reports.label import LabelContent, LabelStamps, signer_text
from ecoscore.reports.pareto import Point, pareto_figure_bytes, pareto_front
from ecoscore.reports.safe_text import html_text

TABLE_COLUMNS = tuple(c for c in COLUMNS if c not in ("workload", "source"))
#: Columns of a paired record only (the model grade and its factor).
PAIRED_COLUMNS = ("model grade", "model factor")
#: Row flags that stop certification in a comparison (beside the rules of the record).
JURY_BLOCKERS = ("invalid-signature", "signed-by-other-key", "power-log-missing", "duplicate")

_SCRIPT = (
    "(function(){var d=document.documentElement;"
    "var n=document.querySelectorAll('table.comparison tbody tr').length;"
    "d.setAttribute('data-table-rows',String(n));"
    "d.setAttribute('data-report-ready','1');})();"
)

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;margin:24px;
color:#1a1a1a;max-width:1400px}
h1{color:#0b3d2e;margin-bottom:4px}h2{color:#0b3d2e;border-bottom:2px solid #0b3d2e;
padding-bottom:2px;margin-top:32px}
.meta{color:#555;font-size:13px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eef3f0}
tr.bad td{background:#fde8e4}
td.grade{font-weight:bold;text-align:center;font-size:14px}
td.grade-A{background:#038141;color:#fff}td.grade-B{background:#85bb2f;color:#fff}
td.grade-C{background:#fecb02}td.grade-D{background:#ee8100;color:#fff}
td.grade-E{background:#e63e11;color:#fff}
.flag{display:inline-block;background:#fff4d6;border:1px solid #e0b000;border-radius:3px;
padding:0 3px;margin:1px;font-size:11px}
.flag.severe{background:#fde8e4;border-color:#e63e11}
.pass{color:#038141;font-weight:bold}.fail{color:#c0300a;font-weight:bold}
.labels{display:flex;flex-wrap:wrap;gap:12px}
.labels figure{margin:0;text-align:center;font-size:11px;content-visibility:auto;
contain-intrinsic-size:242px 340px}
.labels svg.eco-label{width:240px;height:320px;border:1px solid #ddd;display:block}
.note{color:#555;font-size:12px}
details{margin:4px 0;border:1px solid #ddd;padding:4px 8px}
summary{cursor:pointer;font-weight:bold}
img.plot{max-width:100%;border:1px solid #ddd}
code{font-size:12px}
.tablewrap{overflow-x:auto}
details td{white-space:pre-wrap}
"""

SEVERE = {"integrity-failed", "invalid-signature", "untrusted-signature", "below-gate"}


def esc(value: object, multiline: bool = False) -> str:
    return html_text(value, multiline)


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _flag_html(flags: str) -> str:
    out = []
    for f in flags.split():
        cls = "flag severe" if f in SEVERE else "flag"
        out.append(f'<span class="{cls}" title="{esc(FLAGS.get(f, f))}">{esc(f)}</span>')
    return " ".join(out)


def _table(rows: list[Row], table_id: str) -> str:
    from ecoscore.jury.compare import table_row

    recs = [table_row(row) for row in rows]
    # the model grade's columns only when a record is paired (ecoscore run --paired)
    columns = [c for c in TABLE_COLUMNS if c not in PAIRED_COLUMNS or any(r[c] for r in recs)]
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in columns)
    body = []
    for row, rec in zip(rows, recs, strict=True):
        cls = ' class="bad"' if row.entry.integrity_failed else ""
        cells = []
        for c in columns:
            v = rec[c]
            if c in ("grade", "model grade"):
                letter = str(v)[:1]
                cells.append(f'<td class="grade grade-{esc(letter)}">{esc(v)}</td>')
            elif c == "flags":
                cells.append(f"<td>{_flag_html(str(v))}</td>")
            else:
                cells.append(f"<td>{esc(v)}</td>")
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return (
        f'<div class="tablewrap"><table class="comparison" id="{table_id}"><thead><tr>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _tables(comparison: Comparison, workload: str, index: int) -> str:
    rows = comparison.rows_for(workload)
    main = [r for r in rows if r.section != "quick"]
    quick = [r for r in rows if r.section == "quick"]
    out = _table(main, f"table-{index}") if main else "<p>No full run.</p>"
    if quick:
        out += (
            f'<h3 id="quick-{index}">Quick runs: not ranked, not on the Pareto front</h3>'
            '<p class="note">Smoke runs (<code>ecoscore run --quick</code>): their windows are '
            "too short for their figures to be compared or certified; shown for information."
            f"</p>{_table(quick, f'quick-table-{index}')}"
        )
    return out


def pareto_points(rows: list[Row]) -> list[Point]:
    """Graded-or-not full runs with an energy figure, each counted once: no quick run, no
    replication, no record whose content fails its integrity check."""
    pts = []
    for r in rows:
        if r.section != "run" or r.duplicate_of is not None:
            continue
        e = r.energy_j
        if e is not None and e > 0:
            q = r.record.quality
            better_high = higher_is_better(q.metric)
            pts.append(Point(r.record.record_id, r.record.model.name, e, q.value, better_high))
    return pts


def _pareto(comparison: Comparison, workload: str) -> str:
    """One Pareto plot per energy boundary: records of different boundaries are never on
    one front."""
    boundaries = comparison.boundaries(workload)
    parts = []
    for b in boundaries:
        rows = comparison.rows_for(workload, b)
        pts = pareto_points(rows)
        if not pts:
            continue
        rec = rows[0].record
        title = workload if len(boundaries) == 1 else f"{workload} ({b})"
        png = pareto_figure_bytes(pts, title, rec.quality.metric, rec.workload.quality_gate)
        front = ", ".join(esc(p.label) for p in pareto_front(pts))
        parts.append(
            f'<figure><img class="plot" alt="Pareto plot of {esc(rec.quality.metric)} against '
            f'energy per inference for {esc(title)}" src="{_data_uri(png, "image/png")}">'
            f"<figcaption>Pareto front (no other record at boundary {esc(b)} uses less "
            f"energy for at least the same quality): {front}"
            f"</figcaption></figure>"
        )
    if not parts:
        return "<p>No record with a valid energy per inference: no Pareto plot.</p>"
    return "".join(parts)


def _summary(comparison: Comparison, verdicts: list[Verdict] | None, policy: Policy | None) -> str:
    n = len(comparison.rows)
    bad = sum(1 for r in comparison.rows if r.entry.integrity_failed)
    graded = sum(1 for r in comparison.rows if r.rankable)
    parts = [
        '<section id="summary"><h2>Summary</h2><ul>',
        f"<li>{n} record(s) in {len(comparison.workloads())} workload(s); {graded} graded "
        f"full run(s) ranked with scale {esc(comparison.scale.version)}.</li>",
    ]
    quick = sum(1 for r in comparison.rows if r.section == "quick")
    if quick:
        parts.append(f"<li>{quick} quick run(s), shown apart: not ranked, not certifiable.</li>")
    noisy = sum(1 for r in comparison.rows if r.interference and r.section == "run")
    if noisy:
        parts.append(
            f'<li class="fail">{noisy} full run(s) measured while other processes used the '
            "machine (interference): not certifiable.</li>"
        )
    if bad:
        parts.append(f'<li class="fail">{bad} record(s) fail their integrity check.</li>')
    if comparison.errors:
        parts.append(f'<li class="fail">{len(comparison.errors)} file(s) could not be read:<ul>')
        parts += [f"<li><code>{esc(e.error)}</code></li>" for e in comparison.errors]
        parts.append("</ul></li>")
    trust = comparison.trusted.source if comparison.trusted else "none given"
    parts.append(f"<li>Trusted keys: {esc(trust)}.</li></ul>")
    if verdicts is not None:
        name = policy.name if policy else "policy"
        parts.append(f'<h3>Policy: {esc(name)}</h3><table id="policy"><thead><tr>')
        parts.append("<th>submission</th><th>category</th><th>result</th><th>reasons</th>")
        parts.append("</tr></thead><tbody>")
        for v in verdicts:
            res = '<span class="pass">PASS</span>' if v.passed else '<span class="fail">FAIL</span>'
            reasons = "<br>".join(esc(r) for r in v.reasons) or "every rule met"
            parts.append(
                f"<tr><td>{esc(v.submission)}</td><td>{esc(v.category or '-')}</td>"
                f"<td>{res}</td><td>{reasons}</td></tr>"
            )
        parts.append("</tbody></table>")
    parts.append("</section>")
    return "".join(parts)


def _methodology(comparison: Comparison) -> str:
    """How joules become a grade, with the thresholds of every workload shown: the report
    carries its methodology (docs/METHODOLOGY.md of the ecoscore that wrote it)."""
    sc = comparison.scale
    head = "".join(f"<th>{c}</th>" for c in CLASSES)
    rows = []
    for w in comparison.workloads():
        ws = sc.for_workload(w)
        if ws is None:
            rows.append(
                f'<tr><th scope="row">{esc(w)}</th><td colspan="6">no thresholds in '
                f"scale {esc(sc.version)}: no grade</td></tr>"
            )
            continue
        b = ws.upper_bounds_j
        cells = [f"≤ {format_quantity(x, 'J')}" for x in b] + [f"> {format_quantity(b[-1], 'J')}"]
        rows.append(
            f'<tr><th scope="row">{esc(w)}</th>'
            + "".join(f"<td>{esc(c)}</td>" for c in cells)
            + f"<td>{esc(format_quantity(ws.reference_energy_per_inference_j, 'J'))}</td></tr>"
        )
    levels = " &lt; ".join(esc(a) for a in ASSURANCE_LEVELS)
    return (
        '<section id="methodology"><h2>How a grade is given</h2>'
        f"<p>Scale <strong>{esc(sc.version)}</strong> (published {esc(sc.published)}): a record "
        f"is graded from the <strong>median energy per inference of its single-stream "
        f"scenario</strong> (batch 1), gross (idle power of the boundary included), at the "
        f"boundary it declares. The grade is absolute: it never depends on the other records. "
        f"Class C is centred on each workload's reference point and each class spans a factor "
        f"of 10<sup>1/{sc.classes_per_decade}</sup>. Thresholds, energy per inference:</p>"
        f'<table id="thresholds"><thead><tr><th>workload</th>{head}<th>reference point</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "<ul>"
        "<li>Below the workload's quality gate there is no grade (not eligible); the gate is "
        "always the installed workload's, never the record's.</li>"
        "<li><em>Class probabilities</em> (B (84%) / C (16%)) combine the spread of the repeats "
        "with the meter's stated uncertainty; the <em>CI level</em> is the confidence the "
        "interval of the median actually reaches with the repeats measured (93.75% with 5, 75% "
        "with 3; no interval with 1).</li>"
        "<li>An ESTIMATED energy (no sensor read) gives a provisional grade, marked *; it never "
        "certifies.</li>"
        f"<li><em>Assurance</em>, weakest to strongest: {levels}. Lab-replicated needs a full "
        "replication within tolerances signed by a trusted key that is not the applicant's; a "
        "quick replication never counts.</li>"
        "<li><em>Certifiable</em>: every rule of <code>ecoscore verify --rules</code> holds (no "
        "quick run, no interference above 10 % of the CPUs, at least 3 valid windows, measured "
        "and self-measured figures, ...) and the signatures check.</li>"
        "<li>Quick (smoke) runs are shown apart, never ranked and never on the Pareto front.</li>"
        "<li>A <em>model grade</em> (paired records, <code>ecoscore run --paired</code>) grades "
        "the model factor <code>E_model / E_reference</code>: the model against the "
        "workload's reference model, measured on the same device in the same session, windows "
        "interleaved. Class C is centred on a factor of 1 (as frugal as the reference), each "
        "class spans a factor of &radic;10 (A: &le; 0.178, B: &le; 0.562, C: &le; 1.78, D: "
        "&le; 5.62, E: above); same eligibility as the grade; a factor of ESTIMATED energies is "
        "provisional (*).</li>"
        "</ul>"
        f'<p class="note">Rescaling: {esc(sc.rescaling_rule)}</p>'
        '<p class="note">The full methodology, with its sources, is docs/METHODOLOGY.md in '
        "ecoscore's source distribution; this summary is what this report was written with."
        "</p></section>"
    )


def _legend() -> str:
    items = "".join(f"<dt>{_flag_html(k)}</dt><dd>{esc(v)}</dd>" for k, v in FLAGS.items())
    return f'<section id="flags"><h2>Flags</h2><dl>{items}</dl></section>'


def judged_label(row: Row) -> LabelContent | None:
    """The row's label content (kept when the comparison was built) with what the jury's
    comparison knows: assurance, certifiability, signer."""
    content = row.extra
    if not isinstance(content, LabelContent):
        return None
    also = tuple(f for f in row.flags if f in JURY_BLOCKERS)
    signer = signer_text(row.signature)
    return content.judged(row.assurance, row.certifiable, signer, also)


def _labels(comparison: Comparison, stamps: LabelStamps) -> Iterator[str]:
    """The labels section, a figure at a time, then the layouts the labels use and their
    text styles."""
    started = False
    for w in comparison.workloads():
        for r in comparison.rows_for(w):
            if r.section not in ("run", "quick"):
                continue
            content = judged_label(r)
            if content is None:
                continue
            if not started:
                yield '<section id="labels"><h2>Labels</h2><div class="labels">'
                started = True
            name = r.record.model.name
            svg = stamps.inline(content, f"eco-score label of {name}")
            yield (
                f"<figure>{svg}<figcaption>{esc(name)} &middot; "
                f"{esc(r.record.record_id[:12])}</figcaption></figure>"
            )
    if started:
        yield f"</div>{stamps.defs()}<style>{stamps.css()}</style></section>"


def _record_fields(r: Row) -> list[tuple[str, object]]:
    rec, g = r.record, r.grade
    m, e, d, mt, q = rec.model, rec.engine, rec.device, rec.meter, rec.quality
    kind = rec.record_type + (f" of {rec.replicates}" if rec.replicates else "")
    integrity = f"FAILED: {r.entry.error}" if r.entry.integrity_failed else "ok"
    if g is None:
        certifiable = "no (integrity failed)"
    elif r.certifiable:
        certifiable = "yes"
    else:
        also = [f for f in r.flags if f in JURY_BLOCKERS]
        certifiable = "no: " + ", ".join([*g.certification_blockers, *also])
    single = rec.scenario("single_stream")
    stat = single.energy_per_inference_j if single is not None else None
    energy = (
        f"{format_quantity(stat.median, 'J')} per inference (single-stream, gross), interval "
        f"{format_quantity(stat.ci_low, 'J')} to {format_quantity(stat.ci_high, 'J')} at "
        f"{ci_level_text(stat.ci_level)} confidence, {stat.n} repeat(s)"
        if stat is not None
        else "none"
    )
    fields: list[tuple[str, object]] = [
        ("file", r.entry.source),
        ("record_id", rec.record_id),
        ("record type", kind),
        ("integrity", integrity),
        ("signature", r.signature.detail if r.signature else "not checked"),
        ("grade", g.summary if g else "none (integrity failed)"),
        *(
            [("model grade", f"{g.model_grade.summary} (ecoscore run --paired)")]
            if g is not None and g.model_grade is not None
            else []
        ),
        ("energy", energy),
        ("assurance", r.assurance or "unknown"),
        ("certifiable", certifiable),
        ("interference", "; ".join(r.interference) or "none above the threshold"),
        ("workload", f"{rec.workload.name} {rec.workload.version}"),
        ("model", f"{m.name} ({m.file_name}, {m.format}, sha256 {m.sha256[:16]})"),
        ("engine", f"{e.name} {e.version} on {e.device}, {e.precision}"),
        ("device", f"{d.kind}: {d.name}; CPU {d.cpu_model}; {d.os}"),
        ("meter", f"{mt.name} ({mt.measurement}) at {mt.boundary}: {mt.source}"),
        ("quality", f"{q.metric} {q.value:.4f} (gate {rec.workload.quality_gate:g})"),
        ("run", f"repeats {rec.run.repeats}, quick {rec.run.quick}, seed {rec.run.seed}"),
        ("ecoscore", rec.provenance.ecoscore_version),
        ("when", f"{rec.provenance.started_utc} to {rec.provenance.finished_utc}"),
        ("notes", rec.provenance.notes or ""),
    ]
    for rep in r.replications:
        fields.append(("replication", "\n".join(rep.lines())))
    for rep in r.quick_looks:
        fields.append(("quick look (not counted)", "\n".join(rep.lines())))
    return fields


def _details(comparison: Comparison) -> Iterator[str]:
    yield '<section id="details"><h2>Records in detail</h2>'
    for w in comparison.workloads():
        for r in comparison.rows_for(w):
            rows = "".join(
                f'<tr><th scope="row">{esc(k)}</th><td>{esc(v, multiline=True)}</td></tr>'
                for k, v in _record_fields(r)
            )
            yield (
                f"<details><summary>{esc(r.record.model.name)} &middot; {esc(w)} &middot; "
                f"{esc(r.record.record_id[:12])}</summary><table>{rows}</table></details>"
            )
    yield "</section>"


def render_report(
    comparison: Comparison,
    title: str = "ecoscore comparison",
    verdicts: list[Verdict] | None = None,
    policy: Policy | None = None,
    labels: bool = False,
) -> str:
    """The whole report as one HTML string (``report_parts`` joined)."""
    return "".join(report_parts(comparison, title, verdicts, policy, labels))


def report_parts(
    comparison: Comparison,
    title: str = "ecoscore comparison",
    verdicts: list[Verdict] | None = None,
    policy: Policy | None = None,
    labels: bool = False,
) -> Iterator[str]:
    """The report, a part at a time (a call's report is tens of MB: written as it is made,
    never held whole). ``labels``: draw the label of every run whose label content the
    comparison kept (``build_comparison(..., keep=label_keeper(...))``)."""
    script_hash = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
    csp = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'"
    )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    head = comparison.scale.scale
    yield "<!DOCTYPE html>\n"
    yield '<html lang="en"><head><meta charset="utf-8">\n'
    yield f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">\n'
    yield '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    yield f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>\n"
    yield (
        f'<header><h1>{esc(title)}</h1><p class="meta">Generated {esc(now)} by ecoscore; '
        f"scale {esc(head.version)} ({esc(head.quantity)}, "
        f"{esc(head.scenario)}, {esc(head.energy)} energy). Grades are "
        f"absolute (per workload); the rank is relative to the full runs shown here. "
        f'How joules become a grade, with the thresholds: <a href="#methodology">below</a>.'
        f"</p></header>\n"
    )
    yield _summary(comparison, verdicts, policy) + "\n"
    for i, w in enumerate(comparison.workloads()):
        flags = comparison.group_flags(w)
        flag_line = f"<p>Workload flags: {_flag_html(' '.join(flags))}</p>" if flags else ""
        yield f'<section class="workload" id="workload-{i}"><h2>{esc(w)}</h2>{flag_line}'
        yield _tables(comparison, w, i)
        yield f"{_pareto(comparison, w)}</section>\n"
    yield _methodology(comparison) + "\n"
    yield _legend() + "\n"
    if labels:
        yield from _labels(comparison, LabelStamps())
    yield from _details(comparison)
    yield (
        '\n<footer><p class="meta">Measured and estimated energies are marked; only measured, '
        'certifiable ones certify. How a grade is given: <a href="#methodology">methodology'
        "</a>.</p></footer>\n"
    )
    yield f"<script>{_SCRIPT}</script>\n</body></html>\n"
