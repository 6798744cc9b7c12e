"""The label: content checked from the SVG text, PNG size, escaping of user strings."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ecoscore.grading.grade import grade_record
from ecoscore.grading.indicators import compute_indicators
from ecoscore.grading.scale import load_scale
from ecoscore.record import RunRecord
from ecoscore.reports.label import LabelError, draw_label, save_label
from tests.record_factory import K, make_record

SVG_NS = "{http://www.w3.org/2000/svg}"


def _render(record: RunRecord, out: Path) -> Path:
    scale = load_scale("2026.1")
    grade = grade_record(record, scale)
    fig = draw_label(
        record, grade, compute_indicators(record), scale.for_workload(record.workload.name)
    )
    return save_label(fig, out, png_dpi=100)


def _svg_texts(path: Path) -> tuple[list[str], dict[str, str]]:
    root = ET.parse(path).getroot()
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]
    by_id = {
        g.get("id", ""): "".join(g.itertext()).strip()
        for g in root.iter(f"{SVG_NS}g")
        if g.get("id", "").startswith("label-")
    }
    return texts, by_id


def test_svg_label_states_grade_energy_scale_and_verification_id(tmp_path: Path) -> None:
    rec = make_record(energy_per_inference_j=1.0e-4 * K)
    texts, by_id = _svg_texts(_render(rec, tmp_path / "label.svg"))
    assert by_id["label-grade"] == "B"
    assert by_id["label-energy"] == "700 mJ  gross"  # 1e-4 J x K = 7e-4 J per inference
    assert by_id["label-scale"] == "Scale 2026.1 · 2026-11-23"
    assert by_id["label-verification"] == f"Verification id {rec.record_id[:12]}"
    assert by_id["label-quality"] == "accuracy 0.980 ≥ gate 0.95"
    assert by_id["label-measurement"] == "MEASURED energy · certifiable"
    assert by_id["label-assurance"].startswith("Assurance self-measured · rapl: ")
    assert "digits-cnn  #ab12cd34" in texts
    assert "vision-digits v1.0 · accuracy" in texts
    assert "cpu-package · onnxruntime fp32" in texts
    assert {"A", "B", "C", "D", "E"} <= set(texts)
    assert "≤ 787 mJ" in texts  # the B bound per 1,000 inferences (7.87e-4 J each)


def test_estimated_label_is_marked_provisional(tmp_path: Path) -> None:
    texts, by_id = _svg_texts(_render(make_record(measurement="ESTIMATED"), tmp_path / "e.svg"))
    assert by_id["label-grade"] == "C*"
    assert "PROVISIONAL" in texts
    assert "ESTIMATED energy · provisional · not certifiable" in texts
    assert not any(t.startswith("MEASURED energy") for t in texts)
    assert by_id["label-assurance"].startswith("Assurance estimated · codecarbon-estimate")


def test_not_eligible_label_shows_quality_and_gate(tmp_path: Path) -> None:
    texts, by_id = _svg_texts(_render(make_record(quality=0.41), tmp_path / "n.svg"))
    assert by_id["label-grade"] == "NOT"
    assert "ELIGIBLE" in texts
    assert "accuracy 0.41 < gate 0.95" in texts


def test_user_strings_are_escaped_in_svg(tmp_path: Path) -> None:
    rec = make_record(model_name="<script>alert(1)</script>$x$")
    path = _render(rec, tmp_path / "x.svg")
    raw = path.read_text()
    assert "<script" not in raw
    assert "&lt;script&gt;" in raw
    texts, _ = _svg_texts(path)  # still valid XML, and the text survives as text
    assert any(t.startswith("<script>alert(1)</script>") for t in texts)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_png_is_300_by_400_at_dpi_100_and_larger_by_default(tmp_path: Path) -> None:
    rec = make_record()
    assert _png_size(_render(rec, tmp_path / "label.png")) == (300, 400)
    scale = load_scale()
    fig = draw_label(
        rec, grade_record(rec, scale), compute_indicators(rec), scale.for_workload("vision-digits")
    )
    assert _png_size(save_label(fig, tmp_path / "big.png")) == (600, 800)


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    rec = make_record()
    scale = load_scale()
    fig = draw_label(rec, grade_record(rec, scale), compute_indicators(rec), None)
    with pytest.raises(LabelError, match=r"\.svg or \.png"):
        save_label(fig, tmp_path / "label.pdf")
