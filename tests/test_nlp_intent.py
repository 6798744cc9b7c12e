"""nlp-intent: the bundled data set, the preprocessing, the checksum and the reference models."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ecoscore.benchmarks.errors import DataChecksumError, DataFormatError
from ecoscore.benchmarks.nlp_intent import (
    DATA_FILE,
    EVAL_SHA256,
    FEATURE_DIM,
    INTENTS,
    LANGUAGES,
    NlpIntent,
    featurize,
    normalise_text,
)
from ecoscore.benchmarks.registry import get_workload
from ecoscore.models.registry import folder_for, reference_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def workload() -> NlpIntent:
    return NlpIntent()


@pytest.fixture(scope="module")
def eval_split(workload: NlpIntent):  # type: ignore[no-untyped-def]
    return workload.eval_split()


def words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[^\W_]+", normalise_text(text)))


def test_dataset_size_intents_and_languages(workload: NlpIntent) -> None:
    rows = workload.utterances()
    assert len(rows) >= 1000
    assert len({u.intent for u in rows}) >= 8
    assert sorted({u.intent for u in rows}) == list(INTENTS)
    cells = Counter((u.intent, u.lang, u.split) for u in rows)
    for intent in INTENTS:
        for lang in LANGUAGES:
            n_train, n_eval = cells[(intent, lang, "train")], cells[(intent, lang, "eval")]
            assert n_train >= 40 and n_eval >= 10, (intent, lang, n_train, n_eval)
            assert 0.70 <= n_train / (n_train + n_eval) <= 0.80


def test_ids_unique_and_no_train_eval_overlap(workload: NlpIntent) -> None:
    rows = workload.utterances()
    assert len({u.id for u in rows}) == len(rows)
    train = {words(u.text) for u in workload.utterances("train")}
    evaluation = [words(u.text) for u in workload.utterances("eval")]
    assert len(set(evaluation)) == len(evaluation)
    assert not train & set(evaluation)


def test_workload_info(workload: NlpIntent) -> None:
    info = workload.info
    assert info.name == "nlp-intent" and info.family == "nlp" and info.metric == "macro_f1"
    assert list(info.class_names) == sorted(info.class_names)
    assert info.num_classes == len(info.class_names) == 10
    assert info.input.name == "input" and info.input.shape == (None, FEATURE_DIM)
    assert 0.5 < info.quality_gate < 1.0 and info.gate_rationale
    assert isinstance(get_workload("nlp-intent"), NlpIntent)
    assert workload.data_source == "bundled"


def test_splits_are_featurized(workload: NlpIntent, eval_split) -> None:  # type: ignore[no-untyped-def]
    train = workload.train_split()
    assert train.x.shape == (len(workload.utterances("train")), FEATURE_DIM)
    assert eval_split.x.dtype == np.float32 and eval_split.y.dtype == np.int64
    assert np.allclose(np.linalg.norm(eval_split.x, axis=1), 1.0, atol=1e-5)
    assert set(np.unique(train.y)) == set(range(len(INTENTS)))


def test_featurize_folds_case_accents_and_ligatures() -> None:
    a = featurize(["Éteins la LUMIÈRE du salon", "un minuteur pour les œufs"])
    b = featurize(["eteins la lumiere du salon", "un minuteur pour les oeufs"])
    assert np.array_equal(a, b)
    assert a.shape == (2, FEATURE_DIM) and a.dtype == np.float32
    assert not np.array_equal(featurize(["lights on"]), featurize(["lights off"]))


def test_featurize_empty_inputs() -> None:
    assert featurize([]).shape == (0, FEATURE_DIM)
    assert not featurize(["?!..."]).any()


def test_featurize_known_bins() -> None:
    # "ok": word "w:ok", trigrams "c: ok" and "c:ok "; three distinct bins of weight log(2).
    x = featurize(["ok"])[0]
    assert np.count_nonzero(x) == 3
    assert np.allclose(x[x > 0], 1 / np.sqrt(3))


_DIGEST_SCRIPT = """
import hashlib
from ecoscore.benchmarks.nlp_intent import NlpIntent, featurize
texts = [u.text for u in NlpIntent().utterances()][:300]
print(hashlib.sha256(featurize(texts).tobytes()).hexdigest())
"""


def test_featurize_independent_of_python_hash_seed(workload: NlpIntent) -> None:
    texts = [u.text for u in workload.utterances()][:300]
    here = hashlib.sha256(featurize(texts).tobytes()).hexdigest()
    digests = []
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", _DIGEST_SCRIPT],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.append(out.stdout.strip())
    assert digests == [here, here]


def test_checksum_constant_matches(workload: NlpIntent) -> None:
    assert workload.eval_data_sha256() == EVAL_SHA256 == workload.info.eval_sha256


def _copy_with(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    lines = DATA_FILE.read_text(encoding="utf-8").splitlines(keepends=True)
    lines = edit(lines)
    path = tmp_path / "nlp_intent.csv"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _first_line_of(lines: list[str], split: str) -> int:
    return next(i for i, line in enumerate(lines) if line.split(",")[1] == split)


def test_tampered_eval_text_fails_checksum(tmp_path: Path) -> None:
    def edit(lines: list[str]) -> list[str]:
        i = _first_line_of(lines, "eval")
        lines[i] = lines[i].rstrip("\n") + "x\n"
        return lines

    copy = NlpIntent(_copy_with(tmp_path, edit))
    with pytest.raises(DataChecksumError, match="checksum"):
        copy.eval_split()
    assert copy.data_source.startswith("user:")


def test_crlf_copy_keeps_checksum(tmp_path: Path) -> None:
    path = _copy_with(tmp_path, lambda lines: [line.replace("\n", "\r\n") for line in lines])
    assert NlpIntent(path).eval_data_sha256() == EVAL_SHA256


def test_bad_row_names_file_and_line(tmp_path: Path) -> None:
    def edit(lines: list[str]) -> list[str]:
        fields = lines[6].split(",")
        fields[3] = "make_coffee"
        lines[6] = ",".join(fields)
        return lines

    path = _copy_with(tmp_path, edit)
    with pytest.raises(DataFormatError, match=r"nlp_intent\.csv, line 7: intent 'make_coffee'"):
        NlpIntent(path).train_split()


def test_missing_column_names_file(tmp_path: Path) -> None:
    path = _copy_with(tmp_path, lambda lines: ["id,split,language,intent,text\n"] + lines[1:])
    with pytest.raises(DataFormatError, match=r"nlp_intent\.csv, line 1: missing column\(s\) lang"):
        NlpIntent(path).train_split()


# --- the committed models --------------------------------------------------------------------


def _scores(model_role: str, eval_split, workload: NlpIntent) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from ecoscore.runners.engines.registry import make_engine

    ref = reference_model("nlp-intent", model_role)
    out = {}
    for fmt, engine_name in (("onnx", "onnxruntime"), ("pt2", "torch")):
        if engine_name == "torch":
            pytest.importorskip("torch", reason="the torch engine needs PyTorch")
        engine = make_engine(engine_name)
        engine.load(ref.file(fmt))
        logits = engine.run(eval_split.x)
        single = engine.run(eval_split.x[:1])
        engine.close()
        assert logits.shape == (len(eval_split), len(INTENTS))
        assert np.allclose(single, logits[:1], atol=1e-5)
        out[engine_name] = workload.score(logits, eval_split.y)
    return out


def test_reference_model_passes_gate_on_both_engines(workload: NlpIntent, eval_split) -> None:  # type: ignore[no-untyped-def]
    scores = _scores("reference", eval_split, workload)
    gate = workload.info.quality_gate
    assert scores["onnxruntime"] >= gate and scores["torch"] >= gate
    assert abs(scores["onnxruntime"] - scores["torch"]) <= 0.005
    declared = reference_model("nlp-intent").eval_quality["macro_f1"]
    assert abs(declared - scores["onnxruntime"]) < 1e-3


def test_baseline_runs_on_both_engines(workload: NlpIntent, eval_split) -> None:  # type: ignore[no-untyped-def]
    scores = _scores("baseline", eval_split, workload)
    assert abs(scores["onnxruntime"] - scores["torch"]) <= 0.005
    assert scores["onnxruntime"] >= workload.info.quality_gate


def test_manifest_files_small_and_present() -> None:
    folder = folder_for("nlp-intent")
    doc = json.loads((folder / "manifest.json").read_text())
    assert doc["workload"] == "nlp-intent"
    assert sorted(m["role"] for m in doc["models"]) == ["baseline", "reference"]
    for m in doc["models"]:
        assert set(m["files"]) == {"onnx", "pt2"}
        for name in m["files"].values():
            size = (folder / name).stat().st_size
            assert 0 < size < 2 * 1024 * 1024, (name, size)
        assert m["parameter_count"] > 0
