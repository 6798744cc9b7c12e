"""anomaly-machine: the vibration generator, the workload definition and its reference models."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import ecoscore.benchmarks.anomaly_machine as am
from ecoscore.benchmarks.base import array_sha256
from ecoscore.benchmarks.errors import DataChecksumError
from ecoscore.benchmarks.registry import get_workload
from ecoscore.benchmarks.vibration import (
    CLIP_SAMPLES,
    FAULT_TYPES,
    NORMAL,
    SAMPLE_RATE,
    _looseness,
    generate_clip,
    generate_set,
    machine_profiles,
)
from ecoscore.models.registry import reference_model
from ecoscore.runners.engines.registry import make_engine

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def workload() -> am.AnomalyMachine:
    w = get_workload("anomaly-machine")
    assert isinstance(w, am.AnomalyMachine)
    return w


def line_amplitude(x: np.ndarray, hz: float) -> float:
    """Amplitude of the sinusoid at ``hz`` in an int16 clip (single-bin DFT, Hann window)."""
    t = np.arange(x.size) / SAMPLE_RATE
    w = np.hanning(x.size)
    return float(2.0 * np.abs(np.sum(w * x * np.exp(-2j * np.pi * hz * t))) / w.sum())


def pair(fault: str, severity: float = 1.0, machine: int = 2, seed: int = 99):
    """The same machine state without and with a fault."""
    p = machine_profiles()[machine]
    normal = generate_clip(p, NORMAL, 0.0, np.random.default_rng(seed))
    faulty = generate_clip(p, fault, severity, np.random.default_rng(seed))
    return normal, faulty


def test_generator_is_deterministic_in_process() -> None:
    a = generate_set(6, 2, seed=5, split=1)
    b = generate_set(6, 2, seed=5, split=1)
    assert a.clips.dtype == np.int16
    assert a.clips.shape == (6 + 2 * len(FAULT_TYPES), CLIP_SAMPLES)
    assert a.clips.tobytes() == b.clips.tobytes()
    assert np.array_equal(a.severities, b.severities)
    c = generate_set(6, 2, seed=6, split=1)
    assert a.clips.tobytes() != c.clips.tobytes()


def test_generator_is_deterministic_across_processes() -> None:
    code = (
        "from ecoscore.benchmarks.vibration import generate_set\n"
        "from ecoscore.benchmarks.base import array_sha256\n"
        "s = generate_set(6, 2, seed=5, split=1)\n"
        "print(array_sha256(s.clips, s.labels))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    here = generate_set(6, 2, seed=5, split=1)
    assert out.stdout.strip() == array_sha256(here.clips, here.labels)


def test_clip_does_not_depend_on_set_size() -> None:
    small = generate_set(3, 0, seed=5, split=0)
    large = generate_set(8, 0, seed=5, split=0)
    assert np.array_equal(small.clips, large.clips[:3])


def test_normal_clips_look_like_a_shaft_line_in_noise() -> None:
    normal, _ = pair("imbalance")
    assert normal.fault == NORMAL and normal.severity == 0.0
    p = machine_profiles()[2]
    assert abs(normal.speed_hz / p.shaft_hz - 1.0) <= 0.03
    one_x = line_amplitude(normal.samples, normal.speed_hz)
    off_line = line_amplitude(normal.samples, normal.speed_hz * 1.37)
    assert one_x > 10 * off_line
    assert np.abs(normal.samples).max() < 32767  # no saturation in normal operation


def test_imbalance_raises_the_1x_line() -> None:
    normal, faulty = pair("imbalance")
    ratio = line_amplitude(faulty.samples, faulty.speed_hz) / line_amplitude(
        normal.samples, normal.speed_hz
    )
    assert 3.5 < ratio < 4.5  # severity 1: 1x gain of 1 + 3


def test_misalignment_raises_2x_and_3x() -> None:
    normal, faulty = pair("misalignment")
    f = normal.speed_hz
    assert line_amplitude(faulty.samples, 2 * f) > 3 * line_amplitude(normal.samples, 2 * f)
    assert line_amplitude(faulty.samples, 3 * f) > 2.5 * line_amplitude(normal.samples, 3 * f)
    one_x_ratio = line_amplitude(faulty.samples, f) / line_amplitude(normal.samples, f)
    assert 0.9 < one_x_ratio < 1.1


def kurtosis(x: np.ndarray) -> float:
    c = x.astype(np.float64) - x.mean()
    return float(np.mean(c**4) / np.mean(c**2) ** 2)


def test_bearing_defect_adds_impulses_at_the_resonance() -> None:
    normal, faulty = pair("bearing")
    assert kurtosis(faulty.samples) > kurtosis(normal.samples) + 1.0
    p = machine_profiles()[2]
    spec_n = np.abs(np.fft.rfft(normal.samples.astype(np.float64))) ** 2
    spec_f = np.abs(np.fft.rfft(faulty.samples.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(CLIP_SAMPLES, 1.0 / SAMPLE_RATE)
    band = np.abs(f - p.resonance_hz) < 150
    assert spec_f[band].sum() > 3 * spec_n[band].sum()


def test_looseness_adds_subharmonics_and_truncates() -> None:
    normal, faulty = pair("looseness")
    f = normal.speed_hz
    assert line_amplitude(faulty.samples, 0.5 * f) > 5 * line_amplitude(normal.samples, 0.5 * f)
    assert line_amplitude(faulty.samples, 5 * f) > 3 * line_amplitude(normal.samples, 5 * f)


def test_looseness_truncates_the_waveform_on_one_side() -> None:
    phase = 2 * np.pi * 25.0 * np.arange(CLIP_SAMPLES) / SAMPLE_RATE
    y = _looseness(np.random.default_rng(3), phase, 0.1, 1.0, 0.1 * np.sin(phase))
    assert np.mean(y == y.max()) > 0.05  # flat tops where the motion is stopped
    assert -y.min() > 1.5 * y.max()  # the other side is not cut


def test_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        generate_clip(machine_profiles()[0], "rust", 0.5, np.random.default_rng(0))


def test_severities_range_and_some_are_subtle() -> None:
    s = generate_set(0, 100, seed=5, split=1, faults=("imbalance",)).severities
    assert s.min() >= 0.05 and s.max() <= 1.0
    assert 0.25 < np.mean(s < 0.3) < 0.6


def test_workload_definition(workload: am.AnomalyMachine) -> None:
    info = workload.info
    assert (info.name, info.version, info.family, info.task) == (
        "anomaly-machine",
        "1.0",
        "anomaly",
        "anomaly",
    )
    assert info.metric == "roc_auc" and info.num_classes is None
    assert info.input.name == "input" and info.input.shape == (None, am.N_FEATURES)
    assert info.quality_gate == 0.85 and "MLPerf Tiny" in info.gate_rationale
    assert workload.data_source == "bundled"


def test_splits(workload: am.AnomalyMachine) -> None:
    train, ev = workload.train_split(), workload.eval_split()
    assert train.x.shape == (am.TRAIN_NORMAL, 128) and train.x.dtype == np.float32
    assert not train.y.any()
    assert ev.x.shape == (am.EVAL_NORMAL + 4 * am.EVAL_PER_FAULT, 128)
    assert ev.y.mean() == 0.5
    faults = workload.eval_fault_types()
    assert np.array_equal(ev.y, (faults != NORMAL).astype(np.int64))
    for f in FAULT_TYPES:
        assert np.sum(faults == f) == am.EVAL_PER_FAULT
    assert np.all(np.isfinite(ev.x)) and np.all(np.isfinite(train.x))
    assert not np.array_equal(workload.eval_clips()[:10], am._generated("train").clips[:10])


def test_features_shape_and_input_checks() -> None:
    clips = generate_set(2, 0, seed=1, split=0).clips
    x = am.features(clips)
    assert x.shape == (2, 128) and x.dtype == np.float32
    # a tone on FFT bin k peaks on feature k - 1 below bin 65, else on band 64 + (k - 65) // 7
    n = np.arange(4096)
    for k, expected in ((20, 19), (300, 64 + (300 - 65) // 7)):
        tone = np.round(8000 * np.sin(2 * np.pi * k * n / am.FRAME)).astype(np.int16)
        assert int(np.argmax(am.features(tone[None, :])[0])) == expected
    with pytest.raises(ValueError, match="int16"):
        am.features(clips.astype(np.float32))
    with pytest.raises(ValueError, match="at least 1024"):
        am.features(clips[:, :1000])


def test_eval_checksum_matches_the_definition(workload: am.AnomalyMachine) -> None:
    assert workload.eval_data_sha256() == am.EVAL_SHA256 == workload.info.eval_sha256


def test_tampered_clip_raises(workload: am.AnomalyMachine, monkeypatch) -> None:
    data = am._generated("eval")
    clips = data.clips.copy()
    clips[17, 100] += 1
    monkeypatch.setitem(am._CACHE, "eval", replace(data, clips=clips))
    with pytest.raises(DataChecksumError, match="anomaly-machine"):
        am.AnomalyMachine().eval_split()


def engine_scores(engine_name: str, path: Path, x: np.ndarray) -> np.ndarray:
    engine = make_engine(engine_name)
    engine.load(path)
    try:
        return np.asarray(engine.run(x))
    finally:
        engine.close()


def test_reference_model_passes_the_gate_on_both_engines(workload: am.AnomalyMachine) -> None:
    model = reference_model("anomaly-machine", "reference")
    ev = workload.eval_split()
    ort_s = engine_scores("onnxruntime", model.file("onnx"), ev.x)
    torch_s = engine_scores("torch", model.file("pt2"), ev.x)
    assert ort_s.shape == torch_s.shape == (len(ev),)
    ort_auc, torch_auc = workload.score(ort_s, ev.y), workload.score(torch_s, ev.y)
    gate = workload.info.quality_gate
    assert ort_auc >= gate and torch_auc >= gate
    assert abs(ort_auc - torch_auc) < 0.005
    assert abs(ort_auc - model.eval_quality["roc_auc"]) < 0.002
    per_fault = workload.per_fault_auc(ort_s)
    assert set(per_fault) == {"all", *FAULT_TYPES}
    assert all(v > 0.75 for v in per_fault.values())


def test_baseline_runs_on_both_engines(workload: am.AnomalyMachine) -> None:
    model = reference_model("anomaly-machine", "baseline")
    ev = workload.eval_split()
    ort_s = engine_scores("onnxruntime", model.file("onnx"), ev.x)
    torch_s = engine_scores("torch", model.file("pt2"), ev.x)
    np.testing.assert_allclose(ort_s, torch_s, rtol=1e-3, atol=1e-5)
    assert abs(workload.score(ort_s, ev.y) - model.eval_quality["roc_auc"]) < 0.002
    assert workload.score(ort_s, ev.y) > 0.8


@pytest.mark.parametrize("role", ["reference", "baseline"])
@pytest.mark.parametrize("batch", [1, 7])
def test_models_have_a_dynamic_batch(workload: am.AnomalyMachine, role: str, batch: int) -> None:
    model = reference_model("anomaly-machine", role)
    x = workload.eval_split().x[:batch]
    for engine, fmt in (("onnxruntime", "onnx"), ("torch", "pt2")):
        assert engine_scores(engine, model.file(fmt), x).shape == (batch,)


def test_manifest_and_files() -> None:
    folder = REPO / "models" / "anomaly_machine"
    doc = json.loads((folder / "manifest.json").read_text())
    assert doc["workload"] == "anomaly-machine"
    assert {m["role"] for m in doc["models"]} == {"reference", "baseline"}
    for m in doc["models"]:
        assert m["parameter_count"] > 0
        for name in m["files"].values():
            size = (folder / name).stat().st_size
            assert 0 < size < 2 * 1024 * 1024
    card = (folder / "CARD.md").read_text()
    assert "machine-ae" in card and "machine-pca" in card
