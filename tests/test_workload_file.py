"""Workload files: the schema (every problem named by its key), the adapters, the
preprocessing vocabulary, the checksums, and a record checked against its file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ecoscore.benchmarks.audio_features import log_mel_frames, mfcc
from ecoscore.benchmarks.errors import DataChecksumError, DataFormatError
from ecoscore.benchmarks.metrics import gate_relation, passes_gate, rmse
from ecoscore.benchmarks.workload_file import (
    FileWorkload,
    WorkloadFileError,
    check_record_against_file,
    info_of,
    load_workload_file,
    parse_workload_file,
)
from ecoscore.record import RunRecord
from tests.workload_files import (
    CSV_FILE,
    IMAGE_FILE,
    write_image_folder,
    write_readings_csv,
    write_wav_folder,
)


def _file(tmp_path: Path, text: str, name: str = "workload.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _variant(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


# --- the schema ---------------------------------------------------------------------------


def test_valid_files_have_no_problem(tmp_path: Path) -> None:
    for text in (IMAGE_FILE, CSV_FILE):
        wf, problems = parse_workload_file(_file(tmp_path, text))
        assert problems == [] and wf is not None


def test_every_structural_problem_is_one_line_naming_its_key(tmp_path: Path) -> None:
    text = _variant(IMAGE_FILE, 'colour = "rgb"', 'colour = "rgb"\ncolor = "rgb"')
    text = _variant(text, 'op = "resize"', 'op = "rezise"')
    text = _variant(text, "size = [16, 16]", "size = [16, 16]")
    text = _variant(text, "factor = 0.00392156862745098", "factor = -1.0")
    text = _variant(text, 'name = "accuracy"', 'name = "precision"')
    _, problems = parse_workload_file(_file(tmp_path, text))
    keys = [p.split(":")[0] for p in problems]
    assert keys == ["data.color", "preprocess[0]", "preprocess[1].factor", "metric.name"]
    assert "unknown key" in problems[0]
    assert "'rezise'" in problems[1] and "'resize'" in problems[1]


def test_a_missing_key_is_named(tmp_path: Path) -> None:
    text = _variant(CSV_FILE, 'label_column = "state"\n', "")
    _, problems = parse_workload_file(_file(tmp_path, text))
    assert problems == ["data.label_column: missing (this key is required)"]


def test_problems_between_keys_are_named(tmp_path: Path) -> None:
    text = _variant(IMAGE_FILE, 'name = "accuracy"', 'name = "rmse"')
    text = _variant(text, "shape = [3, 16, 16]", "shape = [3, 16, 17]")
    text = _variant(text, 'classes = ["dark", "bright"]', 'classes = ["dark"]')
    _, problems = parse_workload_file(_file(tmp_path, text))
    assert problems == [
        "metric.name: rmse does not score a classification task (use accuracy or macro_f1)",
        "output.classes: a classification lists its classes (at least 2), in the order of "
        "the model's scores",
        "input.shape: the preprocessing gives samples of shape (3, 16, 16), the file declares "
        "[3, 16, 17]",
    ]


def test_step_order_and_applicability(tmp_path: Path) -> None:
    # resize after scale; a per-channel normalise after the layout; mfcc on images
    text = IMAGE_FILE.replace('[[preprocess]]\nop = "resize"\nsize = [16, 16]\n\n', "").replace(
        "[input]", '[[preprocess]]\nop = "resize"\nsize = [16, 16]\n\n[input]'
    )
    _, problems = parse_workload_file(_file(tmp_path, text))
    assert problems[0] == "preprocess[3]: 'resize' must come before the other steps"
    text = _variant(CSV_FILE, "[input]", '[[preprocess]]\nop = "layout"\nto = "NCHW"\n\n[input]')
    _, problems = parse_workload_file(_file(tmp_path, text))
    assert problems == [
        "preprocess[1]: a table's rows are already (batch, features); 'layout' can only be flat"
    ]


def test_gate_direction_and_range(tmp_path: Path) -> None:
    text = _variant(CSV_FILE, "gate = 0.8", "gate = 1.5")
    _, problems = parse_workload_file(_file(tmp_path, text))
    assert problems == ["metric.gate: macro_f1 runs from 0 to 1; 1.5 > 1"]
    assert passes_gate("accuracy", 0.95, 0.95) and not passes_gate("accuracy", 0.94, 0.95)
    assert passes_gate("rmse", 2.5, 2.5) and not passes_gate("rmse", 2.6, 2.5)
    assert gate_relation("rmse", False) == ">" and gate_relation("roc_auc", True) == ">="
    assert rmse(np.array([1.0, 2.0, 4.0]), np.array([1.0, 1.0, 2.0])) == pytest.approx(
        np.sqrt(5 / 3)
    )


def test_load_raises_the_first_problem_with_the_file_name(tmp_path: Path) -> None:
    path = _file(tmp_path, _variant(IMAGE_FILE, 'schema_version = "1"', 'schema_version = "2"'))
    with pytest.raises(WorkloadFileError, match=r"workload\.toml: schema_version: Input should"):
        load_workload_file(path)
    bad = _file(tmp_path, "[workload\n", "bad.toml")
    with pytest.raises(WorkloadFileError, match="malformed TOML"):
        load_workload_file(bad)


def test_definition_hash_ignores_comments_and_key_order(tmp_path: Path) -> None:
    a = info_of(load_workload_file(_file(tmp_path, IMAGE_FILE, "a.toml")))
    commented = "# a comment\n" + IMAGE_FILE.replace('version = "1.0"', 'version = "1.0" # v')
    b = info_of(load_workload_file(_file(tmp_path, commented, "b.toml")))
    assert a.definition_sha256() == b.definition_sha256()
    changed = _variant(IMAGE_FILE, "size = [16, 16]", 'size = [16, 16]\nmethod = "nearest"')
    c = info_of(load_workload_file(_file(tmp_path, changed, "c.toml")))
    assert c.definition_sha256() != a.definition_sha256()


# --- image folders -----------------------------------------------------------------------


def test_image_folder_given_split_preprocessed_to_the_declared_input(tmp_path: Path) -> None:
    data = write_image_folder(tmp_path / "data")
    wl = FileWorkload(_file(tmp_path, IMAGE_FILE), data)
    train, evaluation = wl.train_split(), wl.eval_split()
    assert train.x.shape == (48, 3, 16, 16) and evaluation.x.shape == (20, 3, 16, 16)
    assert train.x.dtype == np.float32
    assert sorted(np.bincount(train.y).tolist()) == [24, 24]
    # bright images normalise above zero, dark ones below: (mean/255 - 0.5) / 0.25
    bright = evaluation.x[evaluation.y == 1].mean()
    assert bright == pytest.approx((190 / 255 - 0.5) / 0.25, abs=0.1)
    assert wl.info.class_names == ("dark", "bright") and wl.info.num_classes == 2
    assert wl.definition_file is not None and wl.definition_file.name == "workload.toml"


def test_image_folder_refuses_what_it_does_not_expect(tmp_path: Path) -> None:
    data = write_image_folder(tmp_path / "data", (4, 2))
    (data / "train" / "grey").mkdir()
    with pytest.raises(DataFormatError, match=r"'grey' is not a class of the workload"):
        FileWorkload(_file(tmp_path, IMAGE_FILE), data)
    (data / "train" / "grey").rmdir()
    (data / "eval" / "dark" / "notes.txt").write_text("x")
    with pytest.raises(DataFormatError, match=r"notes\.txt: not an image file"):
        FileWorkload(_file(tmp_path, IMAGE_FILE), data)
    (data / "eval" / "dark" / "notes.txt").unlink()
    (data / "eval" / "dark" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataFormatError, match=r"broken\.png: cannot read the image"):
        FileWorkload(_file(tmp_path, IMAGE_FILE), data)


def test_images_of_several_sizes_need_a_resize(tmp_path: Path) -> None:
    data = write_image_folder(tmp_path / "data", (4, 2))
    text = IMAGE_FILE.replace('[[preprocess]]\nop = "resize"\nsize = [16, 16]\n\n', "")
    wl = FileWorkload(_file(tmp_path, _variant(text, "[3, 16, 16]", "[3, 20, 20]")), data)
    with pytest.raises(DataFormatError, match="different sizes.*add a 'resize'"):
        wl.train_split()


def test_seeded_split_of_an_image_folder_is_stratified_and_fixed(tmp_path: Path) -> None:
    src = write_image_folder(tmp_path / "src", (10, 0))
    flat = src / "train"  # DATA/<class>/*: one folder per class, no split folders
    text = _variant(IMAGE_FILE, 'rule = "given"', 'rule = "seeded"\neval_fraction = 0.3\nseed = 1')
    a = FileWorkload(_file(tmp_path, text), flat)
    b = FileWorkload(_file(tmp_path, text), flat)
    assert np.bincount(a.eval_split().y).tolist() == [3, 3]
    assert a.eval_data_sha256() == b.eval_data_sha256()
    assert np.array_equal(a.eval_split().x, b.eval_split().x)


def test_a_pinned_evaluation_checksum_catches_a_changed_image(tmp_path: Path) -> None:
    data = write_image_folder(tmp_path / "data", (4, 2))
    sha = FileWorkload(_file(tmp_path, IMAGE_FILE), data).eval_data_sha256()
    pinned = _variant(IMAGE_FILE, 'colour = "rgb"', f'colour = "rgb"\neval_sha256 = "{sha}"')
    FileWorkload(_file(tmp_path, pinned), data).eval_split()
    img = data / "eval" / "dark" / "dark_000.png"
    Image.fromarray(np.zeros((20, 20, 3), dtype=np.uint8)).save(img)
    with pytest.raises(DataChecksumError, match="does not match the definition"):
        FileWorkload(_file(tmp_path, pinned), data).eval_split()


# --- CSV tables --------------------------------------------------------------------------


def test_csv_features_seeded_split(tmp_path: Path) -> None:
    csv = write_readings_csv(tmp_path / "data" / "readings.csv")
    wl = FileWorkload(_file(tmp_path, CSV_FILE), tmp_path / "data")
    train, evaluation = wl.train_split(), wl.eval_split()
    assert train.x.shape == (180, 3) and evaluation.x.shape == (60, 3)
    assert train.x.dtype == np.float32  # the final float cast is the one implicit step
    assert np.bincount(evaluation.y).tolist() == [20, 20, 20]
    assert abs(float(train.x[:, 0].mean())) < 1.0  # normalised temperature
    # the data path may also be the CSV file itself
    same = FileWorkload(_file(tmp_path, CSV_FILE), csv)
    assert same.eval_data_sha256() == wl.eval_data_sha256()


def test_csv_bad_values_are_named_by_line_and_column(tmp_path: Path) -> None:
    csv = write_readings_csv(tmp_path / "data" / "readings.csv", rows=12)
    lines = csv.read_text().splitlines()
    lines[5] = "61.0,fast,10.0,running"
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=r"readings\.csv, line 6, vibration: 'fast'"):
        FileWorkload(_file(tmp_path, CSV_FILE), tmp_path / "data")
    lines[5] = "61.0,1.0,10.0,melting"
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=r"line 6, state: label 'melting' is not a class"):
        FileWorkload(_file(tmp_path, CSV_FILE), tmp_path / "data")


def test_csv_regression_with_rmse_and_a_split_column(tmp_path: Path) -> None:
    rows = ["load,temperature,split"] + [
        f"{i / 10:.1f},{20 + 3 * i / 10:.2f},{'eval' if i % 4 == 0 else 'train'}" for i in range(40)
    ]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    text = """
schema_version = "1"
[workload]
name = "motor-temperature"
version = "0.1"
task = "regression"
description = "Motor temperature from load."
[data]
adapter = "csv"
label_column = "temperature"
feature_columns = ["load"]
[split]
rule = "given"
[input]
shape = [1]
[metric]
name = "rmse"
gate = 0.5
gate_rationale = "Half a degree."
"""
    wl = FileWorkload(_file(tmp_path, text), tmp_path / "data.csv")
    evaluation = wl.eval_split()
    assert len(evaluation) == 10 and evaluation.y.dtype == np.float64
    perfect = 20 + 3 * evaluation.x[:, 0].astype(np.float64)
    assert wl.score(perfect, evaluation.y) == pytest.approx(0.0, abs=1e-5)
    assert wl.score(perfect[:, None] + 1.0, evaluation.y) == pytest.approx(1.0, abs=1e-5)
    assert wl.info.family == "tabular" and wl.info.task == "regression"


def test_csv_text_column_uses_the_nlp_features(tmp_path: Path) -> None:
    from ecoscore.benchmarks.nlp_intent import FEATURE_DIM, featurize

    texts = [("turn the lights on", "on"), ("switch off the lamp", "off")] * 6
    csv = tmp_path / "t.csv"
    csv.write_text("text,label\n" + "\n".join(f"{t},{lab}" for t, lab in texts) + "\n")
    text = CSV_FILE.replace(
        'file = "readings.csv"\nlabel_column = "state"\n'
        'feature_columns = ["temperature", "vibration", "current"]',
        'label_column = "label"\ntext_column = "text"',
    ).replace(
        '[[preprocess]]\nop = "normalise"\nmean = [60.0, 1.0, 10.0]\nstd = [10.0, 0.5, 2.0]\n', ""
    )
    text = _variant(text, "shape = [3]", f"shape = [{FEATURE_DIM}]")
    text = _variant(text, 'classes = ["idle", "running", "fault"]', 'classes = ["off", "on"]')
    wl = FileWorkload(_file(tmp_path, text), csv)
    train = wl.train_split()
    assert train.x.shape[1] == FEATURE_DIM and wl.info.family == "nlp"
    assert np.array_equal(train.x[0], featurize(["turn the lights on"])[0]) or np.array_equal(
        train.x[0], featurize(["switch off the lamp"])[0]
    )


# --- npz arrays and WAV folders -------------------------------------------------------------


def test_npz_given_files_and_an_integer_cast(tmp_path: Path) -> None:
    rng = np.random.RandomState(0)
    for name, n in (("train.npz", 30), ("eval.npz", 10)):
        x = rng.randint(0, 256, size=(n, 4, 4, 1)).astype(np.uint8)
        np.savez(tmp_path / name, x=x, y=np.arange(n) % 2)
    text = """
schema_version = "1"
[workload]
name = "tiles"
version = "1"
task = "classification"
description = "Tiles."
[data]
adapter = "npz"
x_kind = "images"
[split]
rule = "given"
[[preprocess]]
op = "scale"
factor = 0.5
[[preprocess]]
op = "layout"
to = "NHWC"
[[preprocess]]
op = "dtype"
to = "uint8"
[input]
dtype = "uint8"
shape = [4, 4, 1]
[output]
classes = ["a", "b"]
[metric]
name = "accuracy"
gate = 0.5
gate_rationale = "Coin."
"""
    wl = FileWorkload(_file(tmp_path, text), tmp_path)
    x = wl.eval_split().x
    raw = np.load(tmp_path / "eval.npz")["x"]
    assert x.dtype == np.uint8 and np.array_equal(
        x, np.rint(raw * np.float32(0.5)).astype(np.uint8)
    )
    too_big = _variant(text, "factor = 0.5", "factor = 2.0")
    with pytest.raises(DataFormatError, match=r"'dtype' uint8: values run from .* outside"):
        FileWorkload(_file(tmp_path, too_big, "big.toml"), tmp_path).train_split()


def test_npz_plain_arrays_of_any_rank(tmp_path: Path) -> None:
    for name, n in (("train.npz", 12), ("eval.npz", 6)):
        x = np.arange(n * 2 * 3 * 5, dtype=np.float32).reshape(n, 2, 3, 5)
        np.savez(tmp_path / name, x=x, y=np.linspace(0.0, 1.0, n))
    text = """
schema_version = "1"
[workload]
name = "cubes"
version = "1"
task = "regression"
description = "Cubes."
[data]
adapter = "npz"
[split]
rule = "given"
[input]
shape = [2, 3, 5]
[metric]
name = "rmse"
gate = 0.1
gate_rationale = "Tenth."
"""
    assert parse_workload_file(_file(tmp_path, text))[1] == []
    wl = FileWorkload(_file(tmp_path, text), tmp_path)
    assert wl.eval_split().x.shape == (6, 2, 3, 5) and wl.info.family == "tabular"
    wrong = _variant(text, "shape = [2, 3, 5]", "shape = [30]")
    with pytest.raises(DataFormatError, match=r"input.shape: .*\(2, 3, 5\), the file declares"):
        FileWorkload(_file(tmp_path, wrong, "wrong.toml"), tmp_path)


def test_wav_folder_with_log_mel_frames(tmp_path: Path) -> None:
    data = write_wav_folder(tmp_path / "wav")
    text = """
schema_version = "1"
[workload]
name = "pump-sound"
version = "1"
task = "anomaly"
description = "Pump sounds."
[data]
adapter = "wav-folder"
sample_rate = 8000
[split]
rule = "given"
[[preprocess]]
op = "log-mel"
n_fft = 256
hop_length = 128
n_mels = 16
frames = 5
[input]
shape = [7, 80]
[metric]
name = "roc_auc"
gate = 0.85
gate_rationale = "MLPerf Tiny's anomaly-detection target."
"""
    _, problems = parse_workload_file(_file(tmp_path, text))
    assert problems == []  # the clip length is known only from the data
    wl = FileWorkload(_file(tmp_path, text), data)
    evaluation = wl.eval_split()
    # 1600 samples: 1 + (1600 - 256) // 128 = 11 frames, 11 - 5 + 1 = 7 vectors of 16 x 5
    assert evaluation.x.shape == (8, 7, 80) and sorted(evaluation.y.tolist()) == [0] * 4 + [1] * 4
    wrong = _variant(text, "sample_rate = 8000", "sample_rate = 16000")
    with pytest.raises(DataFormatError, match="the clips are at 8000 Hz"):
        FileWorkload(_file(tmp_path, wrong, "w.toml"), data)
    mfcc_file = (
        text.replace(
            'op = "log-mel"\nn_fft = 256\nhop_length = 128\nn_mels = 16\nframes = 5',
            'op = "mfcc"\nframe_length_s = 0.032\nframe_step_s = 0.016\nfft_length = 256\n'
            "num_mel_bins = 20\nlower_hz = 20.0\nupper_hz = 4000.0\nnum_coefficients = 10",
        )
        .replace("shape = [7, 80]", "shape = [1, 11, 10]")
        .replace("[input]", '[[preprocess]]\nop = "layout"\nto = "NCHW"\n\n[input]')
    )
    x = FileWorkload(_file(tmp_path, mfcc_file, "m.toml"), data).eval_split().x
    assert x.shape == (8, 1, 11, 10) and np.all(np.isfinite(x))


def test_audio_features_on_a_tone() -> None:
    rate = 16000
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)
    lm = log_mel_frames(tone, rate, n_fft=512, hop_length=256, n_mels=40, frames=1, power=2.0)
    assert lm.shape == (1 + (rate - 512) // 256, 40)
    peak_band = int(np.argmax(lm.mean(axis=0)))
    # the band holding 1 kHz on the mel scale (HTK): 1000 Hz is 1000 mel, of 2840 at 8 kHz
    assert abs(peak_band - round(1000 / (2595 * np.log10(1 + 8000 / 700)) * 41 - 1)) <= 1
    stacked = log_mel_frames(tone, rate, 512, 256, 40, frames=5, power=2.0)
    assert stacked.shape == (lm.shape[0] - 4, 200)
    assert np.allclose(stacked[0, 40:80], lm[1])
    m = mfcc(tone, rate, 0.04, 0.02, 1024, 40, 20.0, 4000.0, 10, 1e-6)
    assert m.shape == (1 + (rate - 640) // 320, 10) and m.dtype == np.float32
    with pytest.raises(ValueError, match="fewer than one frame"):
        mfcc(tone[:100], rate, 0.04, 0.02, 1024, 40, 20.0, 4000.0, 10, 1e-6)


# --- a record against its file ---------------------------------------------------------------


def _record_for(wl: FileWorkload) -> RunRecord:
    from ecoscore.runners.record_builder import workload_ref
    from tests.record_factory import make_record

    ref = workload_ref(wl, wl.eval_data_sha256(), len(wl.eval_split()))
    return make_record(updates={"workload": ref.model_dump()})


def test_a_record_from_a_file_names_it_and_checks_against_it(tmp_path: Path) -> None:
    data = write_image_folder(tmp_path / "data", (4, 2))
    path = _file(tmp_path, IMAGE_FILE)
    wl = FileWorkload(path, data)
    rec = _record_for(wl)
    doc = rec.model_dump(mode="json")["workload"]
    assert doc["definition_file"] == "workload.toml"
    assert doc["definition_file_sha256"] == wl.file_sha256
    assert doc["data_sha256"] == wl.raw.data_sha256
    assert doc["definition_sha256"] == info_of(load_workload_file(path)).definition_sha256()
    assert check_record_against_file(rec, path) == []
    edited = _file(tmp_path, _variant(IMAGE_FILE, "gate = 0.9", "gate = 0.5"), "edited.toml")
    problems = check_record_against_file(rec, edited)
    assert problems[0].startswith(f"{edited}: file sha256")
    assert any(p.startswith("workload.definition_sha256:") for p in problems)
    assert any("workload.quality_gate: the record says 0.9" in p for p in problems)


def test_records_of_python_workloads_keep_their_shape_and_hash() -> None:
    from tests.record_factory import make_record

    rec = make_record()
    doc = rec.model_dump(mode="json")
    assert not {"definition_file", "definition_file_sha256", "data_sha256"} & set(doc["workload"])
    assert rec.content_sha256() == rec.record_id
    assert check_record_against_file(rec, Path("x.toml"))[0].endswith("is defined in Python)")
    shipped = Path(__file__).resolve().parents[1] / "results" / "reference" / "runs"
    for f in sorted(shipped.glob("*.json"))[:3]:
        from ecoscore.record import load_record

        again = load_record(f)
        assert again.content_sha256() == again.record_id == json.loads(f.read_text())["record_id"]


def test_a_bundle_carries_the_workload_file_of_its_records(tmp_path: Path) -> None:
    from ecoscore.jury.bundle import BundleError, read_bundle, write_bundle
    from ecoscore.record import save_record

    data = write_image_folder(tmp_path / "data", (4, 2))
    path = _file(tmp_path, IMAGE_FILE)
    rec = _record_for(FileWorkload(path, data))
    saved = save_record(rec, tmp_path / "results")
    with pytest.raises(
        BundleError, match=r"ran the workload file workload\.toml .*--workload-file"
    ):
        write_bundle([saved], tmp_path / "b.zip")
    other = _file(tmp_path, _variant(IMAGE_FILE, "gate = 0.9", "gate = 0.8"), "other.toml")
    with pytest.raises(BundleError):
        write_bundle([saved], tmp_path / "b.zip", workload_files=[other])
    write_bundle([saved], tmp_path / "b.zip", workload_files=[other, path])
    bundle = read_bundle(tmp_path / "b.zip")
    assert bundle.workload_file(rec.workload.definition_file_sha256 or "") == path.read_bytes()
    assert sorted(bundle.members) == [
        "environment.json",
        f"records/{rec.record_id}.json",
        f"workloads/{rec.workload.definition_file_sha256}.toml",
    ]
