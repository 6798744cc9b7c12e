"""Generators of hostile input (hypothesis strategies) and strict readers of every output
format, for the property tests (tests/test_hostile_properties.py).

Records: ``hostile_records()`` starts from ``tests.record_factory.make_record`` and puts a
hostile string into any text field and a hostile number into any numeric field of the
record, found by walking the record's JSON (``free_fields``): a field added to the record
schema is covered without touching this file. The record stays valid enough to load (its
``record_id`` is recomputed); an infinity is written as ``1e999``, which strict JSON
parsers read as a float. ``poisoned_json()`` gives JSON that is valid but must be refused
(deep nesting, huge integers, lone surrogates, NaN tokens, duplicate keys).

Checks: ``terminal_safe``, ``check_csv``, ``check_markdown``, ``check_latex``,
``check_html``, ``check_svg``, ``check_png``, ``check_json`` each parse an output with a
strict reader of its format and fail the test on what must never be there.

``CASES`` counts the generated cases each property ran; the run prints it at the end
(tests/conftest.py).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from html.parser import HTMLParser
from typing import Any

from hypothesis import strategies as st

from ecoscore.record import RunRecord, content_hash
from ecoscore.reports.safe_text import FORMULA_STARTS
from tests.record_factory import make_record

#: Generated cases run, by property (printed at the end of the test session).
CASES: Counter[str] = Counter()

HOSTILE_STRINGS = (
    "",
    " ",
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.invalid","ok")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    "\uff1d1+1",
    "\x1b[2K\rOK   record.json: all good",
    "\x1b]8;;http://evil.invalid\x1b\\link\x1b]8;;\x1b\\",
    "\x9b31mred",
    "PASS\rFAIL",
    "line one\nOK  forged line",
    "\u202eFDP.exe",
    "zero\u200bwidth\u200c\u200d\u2060\ufeff",
    "\u2066isolate\u2069",
    "\u3164\u115f",
    "\u2028\u2029",
    "\x00\x07\x08\x7f",
    "| a | b |",
    "a\\|b",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "<javascript:alert(1)>",
    "![x](http://evil.invalid/x.png)",
    "*em* _em_ `code` ~~del~~ **strong**",
    "&amp; &#x3C; &lt;",
    "$\\frac{1}{0}$ $x^{$",
    "\\input{/etc/passwd} \\\\ & % # _ { } ~ ^ [opt]",
    "]]><!--",
    "../../etc/passwd",
    "a/b\\c:d",
    "..",
    "🔬 \U0010fffd \U000e0041",
    "A" * 3000,
)


def hostile_text() -> st.SearchStrategy[str]:
    """Any text a record could carry: known attacks, their concatenations, and arbitrary
    Unicode (every category but lone surrogates, which strict JSON refuses)."""
    known = st.sampled_from(HOSTILE_STRINGS)
    anything = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)
    return st.one_of(known, anything, st.tuples(known, anything, known).map("".join))


INF = float("inf")
HOSTILE_FLOATS = (0.0, -0.0, 5e-324, 1e-300, -1.0, 1e300, 1.7976931348623157e308, -1e308, INF, -INF)


def hostile_float() -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from(HOSTILE_FLOATS), st.floats(allow_nan=False, allow_infinity=False)
    )


def hostile_int() -> st.SearchStrategy[int]:
    """Integers strict JSON still accepts (at most 30 digits)."""
    return st.one_of(
        st.sampled_from((0, -1, 2**31, 2**63, -(2**63), 10**29, -(10**29))),
        st.integers(-(10**29), 10**29),
    )


# -- records ------------------------------------------------------------------------------


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(doc, dict):
        return [leaf for k, v in doc.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(doc, list):
        return [leaf for i, v in enumerate(doc) for leaf in _leaves(v, (*path, i))]
    return [(path, doc)]


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _base_doc() -> dict[str, Any]:
    rec = make_record(updates={"provenance": {"notes": "notes"}})
    return rec.model_dump(mode="json")


@functools.cache
def free_fields() -> tuple[tuple[tuple[Any, ...], ...], tuple[tuple[Any, ...], ...]]:
    """(text paths, number paths): the leaves of a record that take any text or any number
    and still validate (Literal fields and booleans are left alone)."""
    base = _base_doc()
    texts, numbers = [], []
    for path, value in _leaves(base):
        if path[0] in ("record_id", "signature"):
            continue
        probe = json.loads(json.dumps(base))
        if isinstance(value, str):
            _set(probe, path, "free text ✓")
            kind = texts
        elif isinstance(value, int | float) and not isinstance(value, bool):
            _set(probe, path, 1.5e300 if isinstance(value, float) else 10**20)
            kind = numbers
        else:
            continue
        try:
            RunRecord.model_validate(probe)
        except ValueError:
            continue
        kind.append(path)
    return tuple(texts), tuple(numbers)


@st.composite
def hostile_records(draw: st.DrawFn, max_fields: int = 12) -> dict[str, Any]:
    """A record document (with its record_id) whose text and numeric fields hold hostile
    values: some fields always (model, workload and device names, notes), others drawn."""
    doc = _base_doc()
    texts, numbers = free_fields()
    always = [p for p in texts if p in (("model", "name"), ("workload", "name"),
                                        ("device", "name"), ("provenance", "notes"))]  # fmt: skip
    chosen = always + draw(st.lists(st.sampled_from(texts), max_size=max_fields, unique=True))
    for path in chosen:
        _set(doc, path, draw(hostile_text()))
    for path in draw(st.lists(st.sampled_from(numbers), max_size=max_fields, unique=True)):
        value = doc
        for key in path:
            value = value[key]
        _set(doc, path, draw(hostile_float() if isinstance(value, float) else hostile_int()))
    for section, field in (("provenance", "packages"), ("device", "details")):
        doc[section][field][draw(hostile_text())] = draw(hostile_text())  # hostile keys
    doc["record_id"] = content_hash(doc)
    return doc


_INF_TOKEN = '"@@ecoscore-test-infinity@@"'
_NINF_TOKEN = '"@@ecoscore-test-minus-infinity@@"'


def _inf_to_tokens(doc: Any) -> Any:
    if isinstance(doc, float) and doc in (INF, -INF):
        return _INF_TOKEN[1:-1] if doc > 0 else _NINF_TOKEN[1:-1]
    if isinstance(doc, dict):
        return {k: _inf_to_tokens(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_inf_to_tokens(v) for v in doc]
    return doc


def record_json(doc: dict[str, Any]) -> bytes:
    """The document as a record file: strict JSON, an infinity written ``1e999``."""
    text = json.dumps(_inf_to_tokens(doc), indent=1, ensure_ascii=False, allow_nan=False)
    return text.replace(_INF_TOKEN, "1e999").replace(_NINF_TOKEN, "-1e999").encode()


# -- JSON that must be refused ------------------------------------------------------------

POISONS = ("deep", "huge-int", "lone-surrogate", "nan", "infinity", "duplicate-key")


def poison(valid: bytes, kind: str, size: int) -> bytes:
    """A valid record file made into one that strict JSON must refuse; ``size`` scales the
    poison (nesting depth, digits)."""
    text = valid.decode()
    head, tail = text[:-2], text[-2:]  # before the closing brace
    if kind == "deep":
        depth = 70 + size * 97
        return (head + f', "x": {"[" * depth}{"]" * depth}' + tail).encode()
    if kind == "huge-int":
        return (head + f', "x": {"9" * (31 + size * 131)}' + tail).encode()
    if kind == "lone-surrogate":
        return (head + ', "x": "a\\ud800b"' + tail).encode()
    if kind == "nan":
        return (head + ', "x": NaN' + tail).encode()
    if kind == "infinity":
        return (head + ', "x": -Infinity' + tail).encode()
    if kind == "duplicate-key":
        return (head + ', "record_id": "0"' + tail).encode()
    raise ValueError(kind)


def poisoned_json() -> st.SearchStrategy[tuple[str, int]]:
    return st.tuples(st.sampled_from(POISONS), st.integers(0, 40))


# -- strict readers -----------------------------------------------------------------------

_INVISIBLE = {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x2800, 0x3164, 0xFFA0}


def unsafe_chars(text: str, keep: str = "\n") -> list[str]:
    """Characters a terminal (or a reader) would not show as themselves."""
    return [
        f"U+{ord(c):04X}"
        for c in text
        if c not in keep
        and (
            unicodedata.category(c) in ("Cc", "Cf", "Cs", "Cn", "Zl", "Zp") or ord(c) in _INVISIBLE
        )
    ]


def terminal_safe(text: str) -> None:
    bad = unsafe_chars(text)
    assert not bad, f"characters that reach a terminal: {bad[:10]}"


def check_json(text: str) -> Any:
    """Strict JSON (no NaN, no Infinity), and nothing a terminal would not show."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"non-strict JSON token {token}")

    terminal_safe(text)
    return json.loads(text, parse_constant=refuse)


def _plain_number(cell: str) -> bool:
    return re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", cell) is not None


def check_csv(text: str) -> list[list[str]]:
    """RFC 4180 through the csv module; every row as wide as the header; no cell a
    spreadsheet would run as a formula; no invisible character."""
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    assert rows, "empty CSV"
    for row in rows:
        assert len(row) == len(rows[0]), row
        for cell in row:
            assert not unsafe_chars(cell, keep=""), (cell, unsafe_chars(cell, keep=""))
            if cell and cell[0] in FORMULA_STARTS:
                assert cell == "-" or _plain_number(cell), f"formula cell {cell!r}"
    return rows


def check_markdown(text: str, columns: int, rows: int) -> list[list[str]]:
    """One GFM table (markdown-it-py, CommonMark + tables), ``rows`` body rows of
    ``columns`` cells, whose inline content is plain text only: no link, image, raw HTML,
    code or emphasis. Returns the cells' text."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    tokens = md.parse(text)
    assert [t.type for t in tokens if t.type in ("table_open", "html_block")] == ["table_open"]
    cells: list[list[str]] = []
    row: list[str] = []
    for t in tokens:
        if t.type == "tr_open":
            row = []
        elif t.type == "tr_close":
            cells.append(row)
        elif t.type == "inline":
            kinds = {c.type for c in t.children or []}
            assert kinds <= {"text"}, f"markup in a cell: {kinds} in {t.content!r}"
            row.append("".join(c.content for c in t.children or []))
    assert len(cells) == rows + 1, f"{len(cells)} rows, expected {rows} + header"
    assert all(len(r) == columns for r in cells)
    assert not unsafe_chars(text), unsafe_chars(text)[:5]
    return cells


_LATEX_CELL = re.compile(
    r"(?:[^\\{}&%$#_~^\[\]<>|]|\\[&%$#_{}]"
    r"|\\text(?:backslash|asciitilde|asciicircum|less|greater|bar)\{\}|\{\[\}|\{\]\})*"
)


def check_latex(text: str, columns: int) -> None:
    """Every table row has ``columns`` cells, and every cell is plain text or one of the
    escapes ecoscore writes: no command, group, tab, comment or math can come from a cell."""
    lines = text.splitlines()
    start = lines.index(r"\hline") + 1
    end = len(lines) - 1 - lines[::-1].index(r"\hline")
    body = [lines[start]] + lines[start + 2 : end]  # the header, then the rows
    assert lines[start + 1] == r"\hline"
    for line in body:
        assert line.endswith(r" \\"), line[-40:]
        cells = re.split(r"(?<!\\)&", line[: -len(r" \\")])
        assert len(cells) == columns, (len(cells), line[:200])
        for cell in cells:
            assert _LATEX_CELL.fullmatch(cell.strip()), cell[:200]
    caption = next(ln for ln in lines if ln.startswith(r"\caption{"))
    assert _LATEX_CELL.fullmatch(caption[len(r"\caption{") : -1])
    assert not unsafe_chars(text), unsafe_chars(text)[:5]


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.attrs: list[tuple[str, str, str | None]] = []
        self.script: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self._in_script = tag == "script"
        self.attrs.extend((tag, k, v) for k, v in attrs)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script.append(data)


#: Every element the report may contain.
HTML_TAGS = {
    *("html", "head", "meta", "title", "style", "body", "header", "footer", "section"),
    *("h1", "h2", "h3", "p", "a", "ul", "li", "dl", "dt", "dd", "details", "summary"),
    *("table", "thead", "tbody", "tr", "th", "td", "span", "div", "code", "br"),
    *("figure", "img", "figcaption", "script", "strong", "em", "sup"),
    # the labels, inline SVG (each layout defined once, used by every label)
    *("svg", "defs", "g", "use", "path", "rect", "clippath", "text"),
}


def check_html(text: str, script: str) -> _Html:
    """html.parser: only the report's own elements, one script (the page's own), no event
    handler attribute, links only relative or http(s), images only data: URIs, and no
    control or invisible character (line feeds aside)."""
    parser = _Html()
    parser.feed(text)
    parser.close()
    assert set(parser.tags) <= HTML_TAGS, set(parser.tags) - HTML_TAGS
    assert parser.tags["script"] == 1 and "".join(parser.script) == script
    for tag, name, value in parser.attrs:
        assert not name.startswith("on"), (tag, name)
        if name == "href":
            link = value or ""
            scheme = re.match(r"\s*[a-z][a-z0-9+.-]*:", link, re.I)
            assert link.startswith(("http://", "https://")) or not scheme, link
        if name == "src":
            assert (value or "").startswith("data:image/"), (value or "")[:40]
    assert not unsafe_chars(text), unsafe_chars(text)[:5]
    return parser


def check_svg(data: bytes) -> ET.Element:
    """A well-formed XML document whose root is an SVG element, without script."""
    root = ET.fromstring(data)
    assert root.tag.endswith("svg"), root.tag
    assert not [e for e in root.iter() if e.tag.endswith("script")]
    assert not unsafe_chars(data.decode(), keep="\n\t\r")
    return root


def check_png(data: bytes) -> tuple[int, int]:
    """A PNG that decodes (Pillow)."""
    from PIL import Image

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return img.size
