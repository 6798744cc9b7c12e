"""The label: content read back from the SVG text (by the id of each text), the reviewer's
panel in its bottom third, PNG size, escaping of user strings, and the labels a report
draws once per layout (LabelStamps), which must be the same drawing."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ecoscore.grading.grade import grade_record
from ecoscore.grading.indicators import compute_indicators
from ecoscore.grading.scale import load_scale
from ecoscore.jury.signing import check_signature, generate_key_pair, load_private_key, sign_record
from ecoscore.jury.trust import TrustedKey, TrustedKeys
from ecoscore.record import RunRecord
from ecoscore.reports.label import (
    HEIGHT,
    LabelError,
    LabelStamps,
    draw_label,
    figure_bytes,
    label_content,
    save_label,
    signer_text,
)
from tests.paired_records import make_paired
from tests.record_factory import K, make_record, with_interference

SVG_NS = "{http://www.w3.org/2000/svg}"


def _content(record: RunRecord, signer: str | None = None):  # noqa: ANN202
    scale = load_scale("2026.1")
    grade = grade_record(record, scale)
    return label_content(
        record, grade, compute_indicators(record), scale.for_workload(record.workload.name), signer
    )


def _render(record: RunRecord, out: Path, signer: str | None = None) -> Path:
    scale = load_scale("2026.1")
    grade = grade_record(record, scale)
    fig = draw_label(
        record,
        grade,
        compute_indicators(record),
        scale.for_workload(record.workload.name),
        signer,
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


def _y_of(path: Path, gid: str) -> float:
    """Where a text is drawn, as a share of the label's height (0 top, 1 bottom)."""
    root = ET.parse(path).getroot()
    height = float(root.get("viewBox", "").split()[3])
    group = next(g for g in root.iter(f"{SVG_NS}g") if g.get("id") == gid)
    text = next(group.iter(f"{SVG_NS}text"))
    return float(text.get("y", "nan")) / height


def test_svg_label_states_grade_energy_and_the_reviewers_panel(tmp_path: Path) -> None:
    rec = make_record(energy_per_inference_j=1.0e-4 * K)
    path = _render(rec, tmp_path / "label.svg")
    texts, by_id = _svg_texts(path)
    assert by_id["label-grade"] == "B"
    assert by_id["label-energy"] == "700 µJ per inference, gross"  # 1e-4 J x K = 7e-4 J
    assert by_id["label-quality"] == "accuracy 0.980 ≥ gate 0.95"
    assert by_id["label-engine"] == "onnxruntime 1.20.0 · fp32 · cpu"
    # the thresholds say what they measure
    assert "≤ 787 µJ per inference" in texts  # the B bound (7.87e-4 J each)
    assert "> 7.87 mJ per inference" in texts
    assert {"A", "B", "C", "D", "E"} <= set(texts)
    assert "digits-cnn  #ab12cd34" in texts
    assert "vision-digits v1.0 · accuracy" in texts
    # the reviewer's panel: what the grade can be trusted for
    assert by_id["label-measurement"] == "MEASURED energy · certifiable"
    assert by_id["label-blockers"] == "every rule of ecoscore verify holds"
    assert by_id["label-boundary"] == "cpu-package"
    assert by_id["label-sensor"] == "rapl: test meter"
    assert by_id["label-assurance"] == "self-measured"
    assert by_id["label-signer"] == "unsigned"
    assert by_id["label-scale"] == "2026.1 · run 2026-11-23"
    assert by_id["label-verification"] == rec.record_id[:12]
    for key in ("Boundary", "Sensor", "Assurance", "Signed by", "Scale", "Verification id"):
        assert key in texts
    # ... and it is the bottom third of the label
    panel = ("label-measurement", "label-blockers", "label-boundary", "label-sensor",
             "label-assurance", "label-signer", "label-scale", "label-verification")  # fmt: skip
    for gid in panel:
        assert _y_of(path, gid) > 2 / 3, gid
    assert _y_of(path, "label-verification") < 1


def test_label_names_a_trusted_signer_and_an_untrusted_key(tmp_path: Path) -> None:
    key, _, b64 = generate_key_pair(tmp_path / "lab")
    signed = sign_record(make_record(), load_private_key(key))
    trusted = TrustedKeys(keys=(TrustedKey(name="Lab A", public_key_b64=b64),))
    key_id = signed.signature.key_id[:8]
    _, by_id = _svg_texts(
        _render(signed, tmp_path / "t.svg", signer_text(check_signature(signed, trusted)))
    )
    assert by_id["label-signer"] == f"Lab A (trusted, {key_id})"
    _, by_id = _svg_texts(_render(signed, tmp_path / "u.svg"))  # no trusted keys given
    assert by_id["label-signer"] == f"key {key_id}, trust unchecked"
    other = TrustedKeys(keys=())
    assert signer_text(check_signature(signed, other)) == f"key {key_id}, NOT trusted"


def test_estimated_label_is_marked_provisional(tmp_path: Path) -> None:
    texts, by_id = _svg_texts(_render(make_record(measurement="ESTIMATED"), tmp_path / "e.svg"))
    assert by_id["label-grade"] == "C*"
    assert "PROVISIONAL" in texts
    assert by_id["label-measurement"] == "ESTIMATED energy · not certifiable"
    assert by_id["label-blockers"] == "stopped by: estimate"
    assert not any(t.startswith("MEASURED energy") for t in texts)
    assert by_id["label-assurance"] == "estimated"
    assert by_id["label-sensor"].startswith("codecarbon-estimate")


def _noisy(quick: bool = False) -> RunRecord:
    """A full run whose every window saw other processes use 38-79 % of the CPUs."""
    return with_interference(make_record(quick=quick), [0.38, 0.48, 0.58, 0.69, 0.79])


def test_interference_and_quick_runs_are_on_the_label(tmp_path: Path) -> None:
    _, by_id = _svg_texts(_render(_noisy(), tmp_path / "n.svg"))
    assert by_id["label-measurement"] == "MEASURED energy · not certifiable"
    assert by_id["label-blockers"] == "stopped by: interference"
    _, by_id = _svg_texts(_render(_noisy(quick=True), tmp_path / "q.svg"))
    assert by_id["label-blockers"] == "stopped by: quick run, interference"


def test_not_eligible_label_shows_quality_and_gate(tmp_path: Path) -> None:
    texts, by_id = _svg_texts(_render(make_record(quality=0.41), tmp_path / "n.svg"))
    assert by_id["label-grade"] == "NOT"
    assert "ELIGIBLE" in texts
    assert by_id["label-reason"] == "accuracy 0.41 < gate 0.95"
    assert by_id["label-measurement"] == "MEASURED energy · not certifiable"
    assert by_id["label-blockers"] == "stopped by: no grade"
    assert "label-probability" not in by_id  # no class probability without a grade


def test_user_strings_are_escaped_in_svg(tmp_path: Path) -> None:
    rec = make_record(model_name="<script>x</script>$x$\x1b[1m")
    path = _render(rec, tmp_path / "x.svg")
    raw = path.read_text()
    assert "<script" not in raw and "\x1b" not in raw
    assert "&lt;script&gt;" in raw
    texts, _ = _svg_texts(path)  # still valid XML, and the text survives as text
    assert "<script>x</script>$x$\\x1b[1m  #ab12cd34" in texts  # the escape made visible


LAYOUTS = {
    "measured": lambda: make_record(energy_per_inference_j=1.0e-4 * K),
    "estimated": lambda: make_record(measurement="ESTIMATED"),
    "not eligible": lambda: make_record(quality=0.41),
    "quick": lambda: make_record(quick=True, model_name="a<b>&c  d\x07"),
    "interference": _noisy,
    "other workload": lambda: make_record(workload="nlp-intent"),
    "paired": lambda: make_paired(),
    "paired estimated": lambda: make_paired(measurement="ESTIMATED"),
    "paired below the gate": lambda: make_paired(quality=0.41),
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_a_stamped_label_is_the_same_drawing(name: str) -> None:
    stamps = LabelStamps()
    for rec in (LAYOUTS[name](), make_record(model_name="other", finished_utc="2026-12-01")):
        content = _content(rec)
        assert stamps.svg(content) == figure_bytes(draw_label_of(rec), "svg").decode()


def draw_label_of(rec: RunRecord):  # noqa: ANN201
    scale = load_scale()
    grade = grade_record(rec, scale)
    return draw_label(rec, grade, compute_indicators(rec), scale.for_workload(grade.workload))


def test_stamps_draw_each_layout_once_and_inline_labels_refer_to_it() -> None:
    stamps = LabelStamps()
    records = [
        make_record(model_name=f"m{i}", finished_utc=f"2026-11-{i + 1:02d}") for i in range(20)
    ]
    inline = [stamps.inline(_content(r), f"label {i}") for i, r in enumerate(records)]
    assert stamps.layouts_drawn == 1
    assert all('<use href="#eco-layout-0"/>' in s for s in inline)
    assert "m7  #ab12cd34" in inline[7] and "2026.1 · run 2026-11-08" in inline[7]
    defs = stamps.defs()
    assert defs.count('id="eco-layout-0"') == 1
    assert 'id="eco-layout-0-figure_1"' in defs  # ids made unique in the page
    assert "@@" not in defs and "label-energy" not in defs  # no record text in a layout
    assert ".eco-label .eco-t0{" in stamps.css()
    hostile = stamps.inline(_content(make_record(model_name="</svg><script>x</script>")), "t")
    assert "<script>" not in hostile and "&lt;/svg&gt;&lt;script&gt;" in hostile


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_png_is_300_by_400_at_dpi_100_and_larger_by_default(tmp_path: Path) -> None:
    rec = make_record()
    assert _png_size(_render(rec, tmp_path / "label.png")) == (300, 400)
    assert (HEIGHT, _png_size(save_label(draw_label_of(rec), tmp_path / "big.png"))) == (
        400,
        (600, 800),
    )


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    rec = make_record()
    scale = load_scale()
    fig = draw_label(rec, grade_record(rec, scale), compute_indicators(rec), None)
    with pytest.raises(LabelError, match=r"\.svg or \.png"):
        save_label(fig, tmp_path / "label.pdf")


def test_a_paired_label_shows_the_model_grade_beside_the_solution_grade(tmp_path: Path) -> None:
    rec = make_paired([0.2, 0.21, 0.19, 0.2, 0.22])
    path = _render(rec, tmp_path / "label.svg")
    _, by_id = _svg_texts(path)
    assert by_id["label-grade"] == "C"  # the solution grade: the factory's energy is class C
    assert by_id["label-model-grade"] == "B"  # factor 0.2: B (0.178 < f <= 0.562)
    assert by_id["label-model-factor"] == "factor 0.2 (0.19-0.22) vs digits-cnn"
    # the model grade row sits between the class probability and the figures
    assert _y_of(path, "label-probability") < _y_of(path, "label-model-grade")
    assert _y_of(path, "label-model-grade") < _y_of(path, "label-energy")
    assert _y_of(path, "label-engine") < _y_of(path, "label-measurement")
    assert _png_size(_render(rec, tmp_path / "label.png")) == (300, 400)
    # an unpaired record has no model grade row
    _, plain = _svg_texts(_render(make_record(), tmp_path / "plain.svg"))
    assert "label-model-grade" not in plain and "label-model-factor" not in plain


def test_a_paired_label_below_the_gate_has_no_model_grade(tmp_path: Path) -> None:
    _, by_id = _svg_texts(_render(make_paired(quality=0.41), tmp_path / "label.svg"))
    assert by_id["label-model-grade"] == "-"
    assert by_id["label-model-factor"].startswith("accuracy 0.41 < gate 0.")
