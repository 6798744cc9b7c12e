"""nlp-text-csv: the loader for a CSV of labelled texts and the workload over it."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ecoscore.benchmarks.errors import DataFormatError
from ecoscore.benchmarks.nlp_intent import FEATURE_DIM, featurize
from ecoscore.benchmarks.registry import get_workload
from ecoscore.benchmarks.text_csv import TextCsv, load_text_csv

GOOD = (
    "text,label,split\n"
    '"turn on the lights, please",on,train\n'
    "lights on,on,train\n"
    "switch the lamp on,on,eval\n"
    "turn off the lights,off,train\n"
    "lights off,off,train\n"
    "switch the lamp off,off,test\n"
)


def fails(path: Path, message: str) -> AbstractContextManager[Any]:
    """Expect a DataFormatError whose message holds the path followed by ``message``."""
    return pytest.raises(DataFormatError, match=re.escape(f"{path}{message}"))


def write(tmp_path: Path, content: str | bytes, name: str = "texts.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def test_good_file_loads(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    texts, labels = load_text_csv(path)
    assert texts[0] == "turn on the lights, please"
    assert labels == ["on", "on", "on", "off", "off", "off"]

    wl = TextCsv(path)
    assert wl.info.name == "nlp-text-csv" and wl.info.metric == "macro_f1"
    assert wl.info.class_names == ("off", "on") and wl.info.num_classes == 2
    assert wl.info.input.shape == (None, FEATURE_DIM) and wl.info.eval_sha256 == ""
    assert wl.data_source == f"user:{path}"
    ev = wl.eval_split()  # "test" counts as evaluation
    assert ev.y.tolist() == [1, 0]
    assert np.array_equal(ev.x, featurize(["switch the lamp on", "switch the lamp off"]))
    assert len(wl.train_split()) == 4
    assert len(wl.eval_data_sha256()) == 64


def test_registry_passes_the_path(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    wl = get_workload("nlp-text-csv", data=path)
    assert isinstance(wl, TextCsv) and wl.data_source == f"user:{path}"


def test_bom_crlf_and_custom_columns(tmp_path: Path) -> None:
    content = (
        "\ufeffsentence,intent\r\nbonjour,hello\r\nsalut,hello\r\nau revoir,bye\r\nciao,bye\r\n"
    )
    path = write(tmp_path, content)
    texts, labels = load_text_csv(path, text_column="sentence", label_column="intent")
    assert texts == ["bonjour", "salut", "au revoir", "ciao"]
    assert labels == ["hello", "hello", "bye", "bye"]


def test_eval_checksum_follows_the_eval_rows(tmp_path: Path) -> None:
    a = TextCsv(write(tmp_path, GOOD, "a.csv")).eval_data_sha256()
    b = TextCsv(write(tmp_path, GOOD.replace("lamp on", "lamp on!"), "b.csv")).eval_data_sha256()
    c = TextCsv(write(tmp_path, GOOD.replace("lights on,", "lights ON,"), "c.csv"))
    assert a != b and a == c.eval_data_sha256()


def _no_split_file(n_per_label: int, order: list[int] | None = None) -> str:
    rows = [f"text {label} number {i},{label}" for label in "ab" for i in range(n_per_label)]
    if order is not None:
        rows = [rows[i] for i in order]
    return "text,label\n" + "\n".join(rows) + "\n"


def test_split_without_column_is_stratified_and_order_free(tmp_path: Path) -> None:
    wl = TextCsv(write(tmp_path, _no_split_file(20), "a.csv"))
    ev = wl.eval_split()
    assert np.bincount(ev.y).tolist() == [5, 5]
    assert len(wl.train_split()) == 30
    reversed_order = list(range(39, -1, -1))
    wl2 = TextCsv(write(tmp_path, _no_split_file(20, reversed_order), "b.csv"))
    assert wl2.eval_data_sha256() != "" and sorted(map(tuple, wl2.eval_split().x.tolist())) == (
        sorted(map(tuple, ev.x.tolist()))
    )


def test_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, "text,category\nhello,greet\n")
    with pytest.raises(DataFormatError) as e:
        load_text_csv(path)
    msg = str(e.value)
    assert str(path) in msg and "line 1" in msg and "missing column(s) label" in msg
    assert "text, category" in msg


def test_empty_text_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'text,label\nhello,greet\n"a\nmulti-line text",greet\n  ,greet\n')
    with fails(path, ", line 5: empty text in column 'text'"):
        load_text_csv(path)


def test_empty_label_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "text,label\nhello,greet\nbye,\n")
    with fails(path, ", line 3: empty label"):
        load_text_csv(path)


def test_bad_encoding_names_line(tmp_path: Path) -> None:
    content = b"text,label\nhello,greet\n" + "éteins,off\n".encode("latin-1")
    path = write(tmp_path, content)
    with fails(path, ", line 3: not valid UTF-8 (byte 0xe9)"):
        load_text_csv(path)


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    empty = write(tmp_path, "\n \n", "empty.csv")
    with fails(empty, ": the file is empty"):
        load_text_csv(empty)
    header_only = write(tmp_path, "text,label\n", "header.csv")
    with fails(header_only, ": the file has a header but no"):
        load_text_csv(header_only)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="file not found"):
        TextCsv(tmp_path / "nope.csv")


def test_wrong_field_count_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "text,label\nhello,greet\nhello, world,greet\n")
    with fails(path, ", line 3: 3 fields where the header has 2"):
        load_text_csv(path)


def test_bad_split_value_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "lamp,on,validation\n")
    with fails(path, ", line 8: split 'validation'"):
        TextCsv(path)


def test_single_label_and_missing_eval_split(tmp_path: Path) -> None:
    one = write(tmp_path, "text,label\na,x\nb,x\nc,x\n", "one.csv")
    with pytest.raises(DataFormatError, match="at least 2 labels"):
        TextCsv(one)
    no_eval = write(tmp_path, "text,label,split\na,x,train\nb,y,train\n", "noeval.csv")
    with pytest.raises(DataFormatError, match="the eval split has no rows"):
        TextCsv(no_eval)
