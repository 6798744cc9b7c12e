"""The HTML report: escaping, self-containment, and a real render in headless Chromium."""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from ecoscore.grading.scale import load_scale
from ecoscore.jury.compare import build_comparison, iter_entries
from ecoscore.reports.label import label_svg
from ecoscore.reports.report_html import render_report
from tests.record_factory import ten_records

CHROMIUM = Path("/usr/bin/chromium")
XSS = "<script>alert(1)</script>"
SCREENSHOT = Path(tempfile.gettempdir()) / "ecoscore-report-screenshot.png"
MODELS = (("digits-cnn", 2.0e-4, 0.985), ("digits-mlp", 8.0e-5, 0.975), (XSS, 3e-5, 0.96))


def report(tmp: Path, labels: bool = False) -> Path:
    paths = ten_records(tmp / "runs", MODELS, notes=f'notes "{XSS}" & <b>bold</b>')
    comp = build_comparison(iter_entries(paths), load_scale())
    drawer = (lambda row: label_svg(row.record)) if labels else None
    path = tmp / "report.html"
    path.write_text(render_report(comp, f"Jury {XSS}", label_svg=drawer), encoding="utf-8")
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
    assert 'href="docs/METHODOLOGY.md"' in text
    for section in ('id="summary"', 'class="comparison"', 'class="plot"', 'id="details"'):
        assert section in text
    assert text.count("<tr") >= 10


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
