"""Property tests: records with hostile strings and numbers in every text and numeric field
(tests/hostile.py) go through verify, score --json, label (SVG and PNG) and compare in
every format (CSV, Markdown, LaTeX, HTML, plot); JSON that must be refused goes through
verify and compare, loose and inside bundles. Nothing crashes, every output parses with a
strict reader of its format, and no control character reaches a terminal.

Example counts are modest (the suite runs on 2 busy cores) and the examples are the same
on every run (derandomized); ``ECOSCORE_HYPOTHESIS_SCALE=N`` multiplies the counts and
draws new examples each time, for a deeper hunt. The counts run are printed at the end of
the session.
"""

from __future__ import annotations

import io
import json
import os
import tomllib
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ecoscore.cli import app
from ecoscore.jury.bundle import BUNDLE_FORMAT, BUNDLE_VERSION, MANIFEST, sha256_hex
from ecoscore.jury.compare import COLUMNS
from ecoscore.reports import safe_text
from ecoscore.reports.report_html import _SCRIPT
from tests.hostile import (
    CASES,
    check_csv,
    check_html,
    check_json,
    check_latex,
    check_markdown,
    check_png,
    check_svg,
    hostile_records,
    hostile_text,
    poison,
    poisoned_json,
    record_json,
    terminal_safe,
    unsafe_chars,
)
from tests.record_factory import make_record

SCALE = float(os.environ.get("ECOSCORE_HYPOTHESIS_SCALE", "1"))
#: Hostile names use characters no installed font draws, and absurd numbers overflow numpy:
#: both are expected here (the command line hides these warnings, ecoscore.cli).
pytestmark = [
    pytest.mark.filterwarnings("ignore:Glyph .* missing from font"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
]


def examples(n: int) -> settings:
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        database=None,
        derandomize=SCALE == 1,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def cli(*args: object):  # noqa: ANN201 - a click Result
    res = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code != 1, res.stderr
    assert "Traceback" not in res.stderr
    terminal_safe(res.stdout)
    terminal_safe(res.stderr)
    return res


def write(folder: Path, name: str, doc: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(record_json(doc))
    return path


@examples(40)
@given(doc=hostile_records())
def test_verify_and_score_survive_any_record(tmp_path_factory, doc) -> None:
    CASES["verify + score --json + score"] += 1
    folder = tmp_path_factory.mktemp("verify")
    path = write(folder, "record.json", doc)
    res = cli("verify", path)
    assert res.exit_code in (0, 7), res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(("OK  ", "FAIL")), lines
    res = cli("score", "--json", path)
    assert res.exit_code == 0, res.stderr
    out = check_json(res.stdout)
    assert len(out["results"]) == 1
    assert cli("score", path).exit_code == 0


@examples(15)
@given(doc=hostile_records())
def test_label_svg_and_png_survive_any_record(tmp_path_factory, doc) -> None:
    CASES["label svg + png"] += 1
    folder = tmp_path_factory.mktemp("label")
    path = write(folder, "record.json", doc)
    svg, png = folder / "label.svg", folder / "label.png"
    res = cli("label", path, "--out", svg, "--out", png, "--dpi", 50)
    assert res.exit_code == 0, res.stderr
    check_svg(svg.read_bytes())
    check_png(png.read_bytes())


POLICY = """[policy]
name = "call"
measured_only = false
require_certifiable = false
min_assurance = "estimated"
"""


@examples(12)
@given(docs=st.lists(hostile_records(max_fields=6), min_size=1, max_size=3))
def test_compare_writes_every_format_safely_for_any_records(tmp_path_factory, docs) -> None:
    CASES["compare csv + md + latex + html + plot + policy"] += 1
    root = tmp_path_factory.mktemp("compare")
    runs, out = root / "runs", root / "out"
    out.mkdir()
    for i, doc in enumerate(docs):
        write(runs, f"r{i}.json", doc)
    policy = root / "policy.toml"
    policy.write_text(POLICY)
    res = cli(
        "compare", runs, "--csv", out / "t.csv", "--md", out / "t.md",
        "--latex", out / "t.tex", "--html", out / "report.html", "--plot", out / "plot.svg",
        "--policy", policy, "--title", docs[0]["model"]["name"],
    )  # fmt: skip
    assert res.exit_code in (0, 7), res.stderr
    n = len(docs)
    rows = check_csv((out / "t.csv").read_text(encoding="utf-8"))
    assert len(rows) == n + 1 and rows[0] == list(COLUMNS)
    cells = check_markdown((out / "t.md").read_text(encoding="utf-8"), len(COLUMNS), n)
    names = sorted(safe_text.visible(d["model"]["name"]).strip() for d in docs)
    assert sorted(r[COLUMNS.index("model")] for r in cells[1:]) == names
    check_latex((out / "t.tex").read_text(encoding="utf-8"), len(COLUMNS))
    check_html((out / "report.html").read_text(encoding="utf-8"), _SCRIPT)
    plots = [p for p in out.iterdir() if p.name.startswith("plot")]
    for p in plots:
        check_svg(p.read_bytes())
    written = {p.name for p in out.iterdir()}
    assert {"t.csv", "t.md", "t.tex", "report.html"} <= written
    assert all(p.parent == out for p in out.rglob("*")), "a name made a path"
    assert {p.name for p in root.iterdir()} == {"runs", "out", "policy.toml"}


def _bundle(path: Path, members: dict[str, bytes]) -> Path:
    manifest = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "created_utc": "2026-11-23T10:00:00+00:00",
        "applicant": None,
        "category": None,
        "members": {n: {"sha256": sha256_hex(d), "size_bytes": len(d)} for n, d in members.items()},
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(MANIFEST, json.dumps(manifest).encode())
        for name, data in members.items():
            z.writestr(name, data)
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture(scope="module")
def good_record_bytes() -> bytes:
    return record_json(make_record().model_dump(mode="json"))


@examples(20)
@given(poisoned=poisoned_json())
def test_json_that_kills_is_one_line_and_the_others_go_on(
    tmp_path_factory, good_record_bytes, poisoned
) -> None:
    kind, size = poisoned
    CASES["poisoned JSON through verify + compare, file and bundle"] += 1
    folder = tmp_path_factory.mktemp("poison")
    (folder / "good.json").write_bytes(good_record_bytes)
    bad = poison(good_record_bytes, kind, size)
    (folder / "BAD.JSON").write_bytes(bad)  # upper case: still read
    _bundle(folder / "sub.zip", {"records/bad.json": bad, "records/good.json": good_record_bytes})
    res = cli("verify", folder)
    assert res.exit_code == 3, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    fails = [ln for ln in lines if ln.startswith("FAIL")]
    oks = [ln for ln in lines if ln.startswith("OK")]
    assert len(fails) == 2 and len(oks) == 2, lines
    assert any("BAD.JSON" in ln for ln in fails) and any(
        "sub.zip:records/bad.json" in ln for ln in fails
    )
    assert all("JSON" in ln for ln in fails), fails
    res = cli("compare", folder)
    assert res.exit_code == 0, res.stderr
    skipped = [ln for ln in res.stderr.splitlines() if "skipped:" in ln]
    assert len(skipped) == 2, res.stderr


@examples(60)
@given(text=hostile_text())
def test_every_format_function_on_any_text(text) -> None:
    CASES["safe_text functions"] += 1
    shown = safe_text.visible(text)
    assert not unsafe_chars(shown, keep=""), unsafe_chars(shown, keep="")
    assert safe_text.visible(shown) == shown  # idempotent once visible
    cell = safe_text.csv_cell(text)
    check_csv(f"h\n{_csv_line(cell)}\n")
    check_markdown(f"| h |\n|---|\n| {safe_text.markdown_cell(text)} |\n", 1, 1)
    check_latex(f"\\hline\nh \\\\\n\\hline\n{safe_text.latex_text(text)} \\\\\n\\hline\n"
                "\\caption{x}\n", 1)  # fmt: skip
    check_html(
        f'<p>{safe_text.html_text(text)}</p><a href="{safe_text.safe_href(text)}">x</a>'
        f"<script>{_SCRIPT}</script>",
        _SCRIPT,
    )
    part = safe_text.file_name_part(text)
    assert part and not part.startswith(".") and ".." not in part
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in part), part
    terminal_safe(safe_text.terminal_json({"k": text, "n": float("inf")}))


def _csv_line(cell: str) -> str:
    buf = io.StringIO()
    import csv

    csv.writer(buf, lineterminator="").writerow([cell])
    return buf.getvalue()


@examples(40)
@given(a=hostile_text(), b=hostile_text())
def test_two_names_never_share_a_file_name(a, b) -> None:
    CASES["file names of two names"] += 1
    if a != b:
        assert safe_text.file_name_part(a) != safe_text.file_name_part(b)


@examples(60)
@given(name=st.text(st.characters(exclude_categories=("Cs",)), max_size=30))
def test_any_key_name_round_trips_through_the_trusted_keys_file(tmp_path_factory, name) -> None:
    from ecoscore.jury.trust import TrustError, load_trusted_keys, trusted_keys_toml

    CASES["trusted-keys name round trip"] += 1
    from pydantic import ValidationError

    from ecoscore.jury.trust import TrustedKey

    key = "A" * 43 + "="  # base64 of 32 bytes
    text = trusted_keys_toml(name, key)
    assert tomllib.loads(text)["keys"][0]["name"] == name  # TOML reads back what was written
    path = tmp_path_factory.mktemp("keys") / "keys.toml"
    path.write_text(text, encoding="utf-8")
    try:
        expected = TrustedKey(name=name, public_key_b64=key).name
    except ValidationError:
        with pytest.raises(TrustError, match="name"):
            load_trusted_keys(path)
    else:  # the file gives the key the name it would have been given directly
        assert load_trusted_keys(path).keys[0].name == expected
