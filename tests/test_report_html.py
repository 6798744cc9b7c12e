"""The HTML report: escaping, self-containment (its methodology embedded, no link that a
move could break), quick runs apart, inline labels, and a real render in headless Chromium."""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from ecoscore.grading.scale import load_scale
from ecoscore.jury.compare import build_comparison, iter_entries
from ecoscore.record import save_record
from ecoscore.reports.label import label_keeper
from ecoscore.reports.report_html import render_report
from tests.record_factory import K, make_record, ten_records

CHROMIUM = Path("/usr/bin/chromium")
XSS = "<script>alert(1)</script>"
SCREENSHOT = Path(tempfile.gettempdir()) / "ecoscore-report-screenshot.png"
MODELS = (("digits-cnn", 2.0e-4, 0.985), ("digits-mlp", 8.0e-5, 0.975), (XSS, 3e-5, 0.96))


def report(tmp: Path, labels: bool = False) -> Path:
    paths = ten_records(tmp / "runs", MODELS, notes=f'notes "{XSS}" & <b>bold</b>')
    scale = load_scale()
    comp = build_comparison(iter_entries(paths), scale, keep=label_keeper(scale))
    path = tmp / "report.html"
    path.write_text(render_report(comp, f"Jury {XSS}", labels=labels), encoding="utf-8")
    return path


def test_every_user_string_is_escaped_and_the_page_is_self_contained(tmp_path):
    text = report(tmp_path).read_text()
    assert XSS not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<b>bold</b>" not in text
    assert text.count("<script>") == 1  # the page's own marker script only
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<link" not in text and "@import" not in text
    assert "Content-Security-Policy" in text
    for section in ('id="summary"', 'class="comparison"', 'class="plot"', 'id="details"'):
        assert section in text
    assert text.count("<tr") >= 10


def test_the_methodology_travels_with_the_report(tmp_path):
    """Moving report.html breaks nothing: every link is to a part of the page itself, and
    the scale's thresholds and what the columns mean are written in it."""
    text = report(tmp_path).read_text()
    links = re.findall(r"""href\s*=\s*["']([^"']*)""", text)
    assert links and all(h.startswith("#") for h in links), links
    assert all(f'id="{h[1:]}"' in text for h in set(links))
    assert 'id="methodology"' in text and 'id="thresholds"' in text
    # scale 2026.1, vision-digits: A <= 249 uJ ... E > 7.87 mJ per inference
    row = re.search(r"<tr><th scope=\"row\">vision-digits</th>(.*?)</tr>", text).group(1)
    assert re.findall(r"<td>([^<]*)</td>", row) == [
        "≤ 249 µJ", "≤ 787 µJ", "≤ 2.49 mJ", "≤ 7.87 mJ", "&gt; 7.87 mJ", "1.4 mJ",
    ]  # fmt: skip
    assert "median energy per inference of its single-stream" in text
    assert "93.75% with 5" in text and "interference" in text


def test_labels_are_inline_svg_drawn_once_per_layout(tmp_path):
    text = report(tmp_path, labels=True).read_text()
    assert text.count('<svg class="eco-label"') == 10
    layouts = set(re.findall(r'<use href="#(eco-layout-\d+)"/>', text))
    assert 1 < len(layouts) < 10  # three grades: a few layouts for ten labels
    assert all(text.count(f'<g id="{ident}">') == 1 for ident in layouts)
    assert text.count("<img") == 1  # the Pareto plot; labels are not images
    assert "per inference" in text and "unsigned" in text and "self-measured" in text
    assert XSS not in text


def test_quick_runs_are_shown_apart_and_off_the_pareto_front(tmp_path):
    recs = [
        make_record(model_name="full", energy_per_inference_j=2e-4 * K),
        make_record(model_name="quicky", energy_per_inference_j=0.5e-4 * K, quick=True),
    ]
    comp = build_comparison(iter_entries([save_record(r, tmp_path) for r in recs]), load_scale())
    text = render_report(comp)
    main, quick = text.split('id="quick-0"')
    assert "quicky" not in main.split('id="table-0"')[1].split("</table>")[0]
    assert "quicky" in quick.split("</table>")[0] and "quick run" in quick
    front = re.search(r"Pareto front \(no other record[^:]*: (.*?)</figcaption>", text).group(1)
    assert front == "full"


def chromium(args: list[str], page: Path) -> subprocess.CompletedProcess[str]:
    profile = tempfile.mkdtemp(prefix="ecoscore-chromium-")
    try:
        return subprocess.run(
            [
                str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                *args, page.resolve().as_uri(),
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def rendered_ok(page: Path) -> tuple[bool, str, str]:
    """(rendered without script errors, DOM, stderr): the page's marker script must have run
    and the console must show no uncaught error."""
    run = chromium(["--enable-logging=stderr", "--v=0", "--dump-dom"], page)
    dom, err = run.stdout, run.stderr
    ok = 'data-report-ready="1"' in dom and "Uncaught" not in err
    return ok, dom, err


needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="headless Chromium absent (apt-get install -y chromium)"
)


@needs_chromium
def test_report_renders_in_headless_chromium(tmp_path):
    page = report(tmp_path, labels=True)
    ok, dom, err = rendered_ok(page)
    assert ok, err[-2000:]
    assert 'data-table-rows="10"' in dom
    assert '<table class="comparison" id="table-0">' in dom
    assert dom.count("<script") == 1  # nothing injected became a script element
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    # 3e-5 J x 1.00 is class A; x 1.12 and 1.24 (and 8e-5 J) are B; 2e-4 J is C
    counts = [dom.count(f'class="grade grade-{c}"') for c in "ABC"]
    assert counts == [1, 5, 4]
    shot = chromium(["--screenshot=" + str(SCREENSHOT), "--window-size=1280,2000"], page)
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert SCREENSHOT.stat().st_size > 50_000  # a rendered page, not a blank one


@needs_chromium
def test_the_render_check_fails_on_a_script_error(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text(
        "<!DOCTYPE html><html><body><table class='comparison'></table><script>"
        "null.boom();document.documentElement.setAttribute('data-report-ready','1');"
        "</script></body></html>"
    )
    ok, dom, err = rendered_ok(broken)
    assert not ok
    assert "Uncaught" in err
    assert 'data-report-ready="1"' not in dom


def test_a_paired_record_shows_its_model_grade_in_the_table_details_and_label(tmp_path):
    from tests.paired_records import make_paired

    paths = [save_record(make_paired(measurement="ESTIMATED"), tmp_path / "runs")]
    paths.append(save_record(make_record(model_name="digits-mlp"), tmp_path / "runs"))
    scale = load_scale()
    comp = build_comparison(iter_entries(paths), scale, keep=label_keeper(scale))
    text = render_report(comp, "Jury", labels=True)
    assert '<th scope="col">model grade</th><th scope="col">model factor</th>' in text
    assert '<td class="grade grade-B">B*</td><td>0.2 (0.19-0.22, 93.75%)</td>' in text
    assert "B* factor 0.2 (0.19-0.22, 93.75%) vs digits-cnn" in text  # the record's details
    assert "factor 0.2 (0.19-0.22) vs digits-cnn" in text  # its label
    assert "model grade" in text and "&radic;10" in text  # the methodology says how
    plain = build_comparison(iter_entries(paths[1:]), scale)
    assert '<th scope="col">model grade</th>' not in render_report(plain, "Jury")
