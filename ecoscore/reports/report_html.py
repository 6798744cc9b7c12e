"""The jury report: one self-contained HTML file (inline CSS, plots and labels as data: URIs,
no network), readable offline and printable.

Every string that comes from a record or a file name is escaped by
``ecoscore.reports.safe_text.html_text`` (control, bidirectional and zero-width characters
made visible, then ``html.escape``); links go through ``safe_href``. The page's only
script is allowed by a Content-Security-Policy hash, so that even markup that slipped
through could not run. The script sets ``data-report-ready`` on <html> once the
page has been laid out; a checker can tell an error-free render from a broken one.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

from ecoscore.jury.compare import COLUMNS, FLAGS, Comparison, Row
from ecoscore.jury.policy import Policy, Verdict
from ecoscore.reports.pareto import Point, pareto_figure_bytes, pareto_front
from ecoscore.reports.safe_text import html_text, safe_href

METHODOLOGY_HREF = "docs/METHODOLOGY.md"
TABLE_COLUMNS = tuple(c for c in COLUMNS if c not in ("workload", "source"))

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
.labels figure{margin:0;text-align:center;font-size:11px}
.labels img{width:240px;height:320px;border:1px solid #ddd}
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


def _table(comparison: Comparison, workload: str, index: int) -> str:
    df = comparison.dataframe(workload)
    rows = comparison.rows_for(workload)
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in TABLE_COLUMNS)
    body = []
    for row, rec in zip(rows, df.to_dict("records"), strict=True):
        cls = ' class="bad"' if row.entry.integrity_failed else ""
        cells = []
        for c in TABLE_COLUMNS:
            v = rec[c]
            if c == "grade":
                letter = str(v)[:1]
                cells.append(f'<td class="grade grade-{esc(letter)}">{esc(v)}</td>')
            elif c == "flags":
                cells.append(f"<td>{_flag_html(str(v))}</td>")
            else:
                cells.append(f"<td>{esc(v)}</td>")
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return (
        f'<div class="tablewrap"><table class="comparison" id="table-{index}"><thead><tr>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def pareto_points(rows: list[Row]) -> list[Point]:
    pts = []
    for r in rows:
        if not r.trusted_content or r.record.record_type != "run":
            continue
        e = r.energy_j
        if e is not None and e > 0:
            pts.append(Point(r.record.record_id, r.record.model.name, e, r.record.quality.value))
    return pts


def _pareto(comparison: Comparison, workload: str) -> str:
    rows = comparison.rows_for(workload)
    pts = pareto_points(rows)
    if not pts:
        return "<p>No record with a valid energy per inference: no Pareto plot.</p>"
    rec = rows[0].record
    png = pareto_figure_bytes(pts, workload, rec.quality.metric, rec.workload.quality_gate)
    front = ", ".join(esc(p.label) for p in pareto_front(pts))
    return (
        f'<figure><img class="plot" alt="Pareto plot of {esc(rec.quality.metric)} against '
        f'energy per inference for {esc(workload)}" src="{_data_uri(png, "image/png")}">'
        f"<figcaption>Pareto front (no other record uses less energy for at least the "
        f"same quality): {front}</figcaption></figure>"
    )


def _summary(comparison: Comparison, verdicts: list[Verdict] | None, policy: Policy | None) -> str:
    n = len(comparison.rows)
    bad = sum(1 for r in comparison.rows if r.entry.integrity_failed)
    graded = sum(1 for r in comparison.rows if r.rankable)
    parts = [
        '<section id="summary"><h2>Summary</h2><ul>',
        f"<li>{n} record(s) in {len(comparison.workloads())} workload(s); {graded} graded "
        f"with scale {esc(comparison.scale.version)}.</li>",
    ]
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


def _legend() -> str:
    items = "".join(f"<dt>{_flag_html(k)}</dt><dd>{esc(v)}</dd>" for k, v in FLAGS.items())
    return f'<section id="flags"><h2>Flags</h2><dl>{items}</dl></section>'


def _labels(comparison: Comparison, label_svg: Callable[[Row], bytes | None]) -> str:
    figs = []
    for w in comparison.workloads():
        for r in comparison.rows_for(w):
            if not r.trusted_content or r.record.record_type != "run":
                continue
            svg = label_svg(r)
            if svg is None:
                continue
            figs.append(
                f'<figure><img alt="eco-score label of {esc(r.record.model.name)}" '
                f'src="{_data_uri(svg, "image/svg+xml")}"><figcaption>'
                f"{esc(r.record.model.name)} &middot; {esc(r.record.record_id[:12])}"
                "</figcaption></figure>"
            )
    if not figs:
        return ""
    body = "".join(figs)
    return f'<section id="labels"><h2>Labels</h2><div class="labels">{body}</div></section>'


def _record_fields(r: Row) -> list[tuple[str, object]]:
    rec, g = r.record, r.grade
    m, e, d, mt, q = rec.model, rec.engine, rec.device, rec.meter, rec.quality
    kind = rec.record_type + (f" of {rec.replicates}" if rec.replicates else "")
    integrity = f"FAILED: {r.entry.error}" if r.entry.integrity_failed else "ok"
    if g is None:
        certifiable = "no (integrity failed)"
    else:
        certifiable = "yes" if g.certifiable else "no: " + ", ".join(g.certification_blockers)
    fields: list[tuple[str, object]] = [
        ("file", r.entry.source),
        ("record_id", rec.record_id),
        ("record type", kind),
        ("integrity", integrity),
        ("signature", r.signature.detail if r.signature else "not checked"),
        ("grade", g.summary if g else "none (integrity failed)"),
        ("certifiable", certifiable),
        ("workload", f"{rec.workload.name} {rec.workload.version}"),
        ("model", f"{m.name} ({m.file_name}, {m.format}, sha256 {m.sha256[:16]})"),
        ("engine", f"{e.name} {e.version} on {e.device}, {e.precision}"),
        ("device", f"{d.kind}: {d.name}; CPU {d.cpu_model}; {d.os}"),
        ("meter", f"{mt.name} ({mt.measurement}) at {mt.boundary}: {mt.source}"),
        ("quality", f"{q.metric} {q.value:.4f} (gate {rec.workload.quality_gate:g})"),
        ("run", f"repeats {rec.run.repeats}, quick {rec.run.quick}, seed {rec.run.seed}"),
        ("when", f"{rec.provenance.started_utc} to {rec.provenance.finished_utc}"),
        ("notes", rec.provenance.notes or ""),
    ]
    for rep in r.replications:
        fields.append(("replication", "\n".join(rep.lines())))
    return fields


def _details(comparison: Comparison) -> str:
    out = ['<section id="details"><h2>Records in detail</h2>']
    for w in comparison.workloads():
        for r in comparison.rows_for(w):
            rows = "".join(
                f'<tr><th scope="row">{esc(k)}</th><td>{esc(v, multiline=True)}</td></tr>'
                for k, v in _record_fields(r)
            )
            out.append(
                f"<details><summary>{esc(r.record.model.name)} &middot; {esc(w)} &middot; "
                f"{esc(r.record.record_id[:12])}</summary><table>{rows}</table></details>"
            )
    out.append("</section>")
    return "".join(out)


def render_report(
    comparison: Comparison,
    title: str = "ecoscore comparison",
    verdicts: list[Verdict] | None = None,
    policy: Policy | None = None,
    label_svg: Callable[[Row], bytes | None] | None = None,
    methodology_href: str = METHODOLOGY_HREF,
) -> str:
    """The whole report as one HTML string. ``label_svg`` draws a row's label (None: no
    labels section)."""
    script_hash = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
    csp = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'"
    )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    head = comparison.scale.scale
    sections = []
    for i, w in enumerate(comparison.workloads()):
        flags = comparison.group_flags(w)
        flag_line = f"<p>Workload flags: {_flag_html(' '.join(flags))}</p>" if flags else ""
        sections.append(
            f'<section class="workload" id="workload-{i}"><h2>{esc(w)}</h2>{flag_line}'
            f"{_table(comparison, w, i)}{_pareto(comparison, w)}</section>"
        )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f'<header><h1>{esc(title)}</h1><p class="meta">Generated {esc(now)} by ecoscore; '
        f"scale {esc(head.version)} ({esc(head.quantity)}, "
        f"{esc(head.scenario)}, {esc(head.energy)} energy). Grades are "
        f"absolute (per workload); the rank is relative to the records shown here. "
        f'How joules become a grade: <a href="{safe_href(methodology_href)}">methodology '
        f"(docs/METHODOLOGY.md)</a>.</p></header>",
        _summary(comparison, verdicts, policy),
        *sections,
        _legend(),
        _labels(comparison, label_svg) if label_svg else "",
        _details(comparison),
        f'<footer><p class="meta">Methodology: <a href="{safe_href(methodology_href)}">'
        f"{esc(methodology_href)}</a>. Measured and estimated energies are marked; only "
        "measured ones certify.</p></footer>",
        f"<script>{_SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
