"""Untrusted text made safe for each format ecoscore writes. Every writer calls these; no
writer escapes on its own.

Text from a record, a bundle, a file name or a key name is untrusted: an applicant writes
it. What each format gets:

- every format: characters that do not show what they are become a visible escape
  (``visible``): control characters (C0, DEL, C1: ``\\x1b``, ``\\r``, ``\\n``...),
  bidirectional and zero-width characters and every other format character (``\\u202e``,
  ``\\u200b``, ``\\ufeff``...), line and paragraph separators, lone surrogates, unassigned
  code points and the letters that draw nothing (Hangul fillers). A name can then neither
  move the cursor, recolour a terminal, reorder what follows it, nor hide a difference
  between two names;
- terminal (``terminal``): ``visible`` only; a line printed stays one line;
- CSV (``csv_cell``): OWASP's rule against formula injection: a cell that starts with
  ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or their full-width forms) is
  prefixed with ``'``, unless it is a plain number or a lone ``-``; quoting is the csv
  module's;
- Markdown (``markdown_cell``): every character that can start markup in a GFM table cell
  is backslash-escaped (``\\ | ` * _ [ ] < > & ! ~``): no link, no raw HTML, no emphasis,
  no cell split;
- LaTeX (``latex_text``): the ten special characters and ``< > | [ ]`` become commands or
  braced text (a ``[`` after ``\\\\`` would be read as an optional argument);
- HTML (``html_text``): ``visible`` and then ``html.escape`` (quotes included, so that the
  same text is safe in an attribute); links are only relative or http(s) (``safe_href``);
- plots and labels drawn by matplotlib (``plot_text``): ``visible`` (the SVG writer
  escapes XML, but control characters are not allowed in XML at all); callers also pass
  ``parse_math=False`` so that ``$`` never starts mathtext;
- file names (``file_name_part``): a name (workload, model) that becomes part of a file
  name keeps only letters, digits, ``.``, ``-`` and ``_``, never starts with a dot, and
  gets a short hash of the original when anything was changed (two names never collide);
- JSON printed on a terminal (``terminal_json``): strict JSON (no NaN or Infinity: a
  non-finite number is ``null``), with every character ``visible`` would escape written as
  a ``\\uXXXX`` escape.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
import unicodedata
from typing import Any

#: Letters (category Lo/Mn) that draw nothing: they can hide a difference between names.
_INVISIBLE = frozenset(map(chr, (0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x2800, 0x3164, 0xFFA0)))
#: Unicode categories escaped by ``visible``: control, format (bidi, zero-width...),
#: surrogate, unassigned, line and paragraph separators.
_ESCAPED_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Cn", "Zl", "Zp"))
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
#: Bound on the cache of per-character decisions (the text may hold any code point).
_CACHE_LIMIT = 65536


def needs_escape(ch: str) -> bool:
    """Whether ``visible`` writes the character ``ch`` as an escape."""
    return ch in _INVISIBLE or unicodedata.category(ch) in _ESCAPED_CATEGORIES


def _escape(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    cp = ord(ch)
    if cp < 0x100:
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


class _VisibleTable(dict):  # type: ignore[type-arg]
    """``str.translate`` table filled on first sight of each character."""

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        out = _escape(ch) if needs_escape(ch) else ch
        if len(self) < _CACHE_LIMIT:
            self[cp] = out
        return out


_VISIBLE = _VisibleTable()


def visible(value: object) -> str:
    """``value`` as text in which every character shows what it is (see the module doc)."""
    text = value if isinstance(value, str) else str(value)
    if text.isascii() and text.isprintable():
        return text
    return text.translate(_VISIBLE)


def terminal(value: object) -> str:
    """Text for a terminal line: nothing in it can move the cursor, recolour or reorder."""
    return visible(value)


# -- CSV ----------------------------------------------------------------------------------

#: First characters that make a spreadsheet read a cell as a formula (OWASP), with the
#: full-width forms some spreadsheets accept too.
FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def csv_cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = visible("" if value is None else value)
    if text and text[0] in FORMULA_STARTS and text != "-" and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


# -- Markdown -----------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|&!~])")


def markdown_cell(value: object) -> str:
    """Text for a GFM table cell: shown literally, on one line, in its own cell."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", visible("" if value is None else value))


# -- LaTeX --------------------------------------------------------------------------------

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
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "[": "{[}",
    "]": "{]}",
}
_LATEX_TABLE = str.maketrans(_LATEX_SPECIAL)


def latex_text(value: object) -> str:
    """Text for a LaTeX document (a table cell, a caption): no command, no group, no
    alignment tab, no optional argument can come from it."""
    return visible("" if value is None else value).translate(_LATEX_TABLE)


# -- HTML ---------------------------------------------------------------------------------


def html_text(value: object, multiline: bool = False) -> str:
    """Text for HTML content or a quoted attribute value. ``multiline`` keeps line feeds
    (for a cell shown with ``white-space: pre-wrap``); every other character ``visible``
    escapes is still escaped."""
    text = "" if value is None else str(value)
    lines = text.split("\n") if multiline else [text]
    return html.escape("\n".join(visible(line) for line in lines), quote=True)


_SAFE_SCHEMES = ("http://", "https://")


def safe_href(url: str) -> str:
    """A link target for an ``href``: http(s), or a relative path; anything else (a
    ``javascript:`` or ``data:`` URL, a scheme-relative ``//host``) becomes ``#``."""
    text = visible(url).strip()
    lower = text.lower()
    if lower.startswith(_SAFE_SCHEMES):
        return html.escape(text, quote=True)
    scheme = re.match(r"[a-z][a-z0-9+.-]*:", lower)
    if scheme or text.startswith("//") or "\\" in text:
        return "#"
    return html.escape(text, quote=True)


# -- plots and labels ---------------------------------------------------------------------


def plot_text(value: object, limit: int | None = None) -> str:
    """Text drawn by matplotlib (draw it with ``parse_math=False``), shortened to ``limit``
    characters with an ellipsis."""
    text = visible("" if value is None else value)
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


# -- file names ---------------------------------------------------------------------------

_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
#: Longest name part kept (the hash suffix comes on top).
FILE_PART_LIMIT = 64


def file_name_part(name: str) -> str:
    """``name`` as part of a file name: letters, digits, ``.``, ``-`` and ``_`` only, never
    ``..`` or a leading dot, at most ``FILE_PART_LIMIT`` characters; when anything had to
    change, a short hash of the original is appended so that two names stay two files."""
    part = _FILE_CHARS.sub("_", name).lstrip(".")
    part = part.replace("..", "_")[:FILE_PART_LIMIT] or "_"
    if part == name:
        return part
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{part}-{digest}"


# -- JSON on a terminal -------------------------------------------------------------------


def finite_json(doc: Any) -> Any:
    """``doc`` with every non-finite float replaced by None (JSON has no NaN or infinity)."""
    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, dict):
        return {k: finite_json(v) for k, v in doc.items()}
    if isinstance(doc, list | tuple):
        return [finite_json(v) for v in doc]
    return doc


def terminal_json(doc: Any, indent: int = 2) -> str:
    """Strict JSON for a terminal: non-finite numbers are null; characters ``visible``
    would escape are written as ``\\uXXXX`` escapes (the JSON means the same)."""
    text = json.dumps(
        finite_json(doc), indent=indent, ensure_ascii=False, allow_nan=False, default=str
    )
    if text.isascii() and text.replace("\n", "").isprintable():
        return text
    return "".join(
        ch if ch == "\n" or _VISIBLE[ord(ch)] == ch else json.dumps(ch)[1:-1] for ch in text
    )
