"""The four MLPerf Tiny workloads on small synthetic data sets in their published layouts:
reading, preprocessing, refusals of wrong layouts (one line naming the file), the
reference-data check, and end-to-end runs recorded as non-reference data or, with the
test-only checksum hook, as gradable reference data that can never certify."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from ecoscore.benchmarks import tiny_ad, tiny_kws, tiny_vww
from ecoscore.benchmarks.errors import DataFormatError, WorkloadError
from ecoscore.benchmarks.features import mfcc
from ecoscore.benchmarks.reference_data import PUBLISHED, pin_for_tests, pins_for
from ecoscore.benchmarks.registry import get_workload
from ecoscore.benchmarks.wav_pcm import parse_wav, pcm16_bytes
from ecoscore.checks import TEST_HOOK_BLOCKER
from ecoscore.grading.grade import data_reason, grade_record
from ecoscore.grading.scale import Scale, load_scale
from ecoscore.runners.benchmark import RunRequest, run_benchmark
from ecoscore.runners.engines.registry import engine_config
from ecoscore.runners.host import describe_device
from ecoscore.runners.meters.codecarbon_estimate import CodeCarbonCpuEstimate
from tests import tiny_data
from tests.onnx_models import linear_classifier


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {
        "tiny-ic": tiny_data.write_cifar(root / "ic"),
        "tiny-kws": tiny_data.write_kws_archive(root / "kws" / tiny_kws.ARCHIVE_NAME),
        "kws-folder": tiny_data.write_kws_folder(root / "kws-folder"),
        "tiny-vww": tiny_data.write_vww(root / "vww"),
        "tiny-ad": tiny_data.write_toycar(root / "ad"),
    }


def quick_run(workload: str, data: Path, model: Path, **engine_settings: object):
    req = RunRequest(
        workload=get_workload(workload, data),
        model_path=model,
        model_name=model.stem,
        model_role="user",
        engine_config=engine_config("onnxruntime", threads=1, **engine_settings),
        meter=CodeCarbonCpuEstimate(),
        device=describe_device(),
        quick=True,
        repeats=1,
    )
    return run_benchmark(req)


# -- reading and preprocessing ------------------------------------------------------------


def test_tiny_ic_feeds_unscaled_nhwc_pixels(data):
    wl = get_workload("tiny-ic", data["tiny-ic"])
    ev = wl.eval_split()
    assert ev.x.shape == (40, 32, 32, 3) and ev.x.dtype == np.float32
    assert ev.x.max() > 200 and ev.x.min() >= 0  # raw 0..255, as the reference feeds them
    assert wl.info.input.layout == "NHWC" and wl.info.quality_gate == 0.85
    assert len(wl.train_split()) == 100


def test_tiny_kws_archive_and_folder_give_the_same_features(data):
    arch = get_workload("tiny-kws", data["tiny-kws"]).eval_split()
    folder = get_workload("tiny-kws", data["kws-folder"]).eval_split()
    assert arch.x.shape == (36, 49, 10, 1)
    np.testing.assert_array_equal(arch.x, folder.x)
    np.testing.assert_array_equal(arch.y, folder.y)
    # 12 classes; the "bed" folder is _unknown_ (11), _silence_ is 10
    assert sorted(set(arch.y.tolist())) == list(range(12))
    assert np.sum(arch.y == 11) == 3


def test_kws_features_scale_by_the_largest_sample_value_and_pad():
    rng = np.random.default_rng(0)
    clip = tiny_data.kws_clip(3, rng, 15000)
    ours = tiny_kws.features(clip)
    x = clip.astype(np.float32) / np.float32(clip.max())  # max value, not max magnitude
    x = np.concatenate([x, np.zeros(1000, np.float32)])
    expected = mfcc(x, **tiny_kws.MFCC_PARAMS)[:, :, None]
    np.testing.assert_allclose(ours, expected, rtol=1e-6)
    # quieter copies give the same features (up to integer rounding); longer clips are cut at 1 s
    np.testing.assert_allclose(tiny_kws.features(clip // 2), ours, atol=1e-2)
    long = np.concatenate([clip, np.full(4000, 100, np.int16)])
    assert tiny_kws.features(long).shape == (49, 10, 1)


def test_tiny_vww_evaluates_the_first_tenth_of_each_class(data):
    wl = get_workload("tiny-vww", data["tiny-vww"])
    ev = wl.eval_split()
    assert ev.x.shape == (4, 96, 96, 3) and ev.x.min() >= 0 and ev.x.max() <= 1.0
    assert ev.y.tolist() == [0, 0, 1, 1]
    names = [p.name for p, _ in tiny_vww.split_files(wl.folder)[1]]
    assert names[0].startswith("COCO_train2014_")  # sorted: train2014 before val2014
    assert len(wl.train_split()) == 36


def test_tiny_ad_selects_ad01_clips_and_stacks_196_vectors(data):
    wl = get_workload("tiny-ad", data["tiny-ad"])
    names = [p.name for p, _ in tiny_ad.eval_files(wl.folder)]
    assert len(names) == 16 and all(n.endswith(("00000003.wav", "00000013.wav")) for n in names)
    ev = wl.eval_split()
    assert ev.x.shape == (16 * 196, 640)
    assert ev.y.reshape(16, 196).std(axis=1).max() == 0  # one label per clip
    # scores: a reconstruction is scored by its mean squared error, a clip by the mean
    perfect = ev.x.copy()
    perfect[ev.y == 1] += 1.0  # anomalous vectors reconstructed badly
    assert wl.score(perfect, ev.y) == 1.0
    assert wl.score(-np.mean((perfect - ev.x) ** 2, axis=1), ev.y) == 0.0
    assert wl.output_fits(("batch", 640), "float32") and wl.output_fits(("batch",), "float32")
    with pytest.raises(WorkloadError, match="reconstruction"):
        wl.score(np.zeros((len(ev), 3)), ev.y)


def test_wav_parser_reads_extensible_headers_and_refuses_others():
    s = np.arange(-5, 5, dtype=np.int16)
    for ext in (False, True):
        audio = parse_wav(pcm16_bytes(s, 16000, extensible=ext), "x.wav")
        assert audio.sample_rate == 16000 and audio.samples.tolist() == s.tolist()
    raw = bytearray(pcm16_bytes(s, 16000))
    raw[34] = 8  # 8-bit samples
    with pytest.raises(DataFormatError, match="x.wav: 8-bit"):
        parse_wav(bytes(raw), "x.wav")


# -- wrong layouts: one line naming the file -----------------------------------------------


def _one_line(err: pytest.ExceptionInfo[BaseException], name: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg and name in msg, msg
    return msg


def test_wrong_layouts_are_refused_naming_the_file(data, tmp_path):
    with pytest.raises(DataFormatError) as err:
        get_workload("tiny-ic", tmp_path)
    _one_line(err, "test_batch")

    bad = tmp_path / "kws"
    shutil.copytree(data["kws-folder"], bad)
    (bad / "stray.wav").write_bytes(pcm16_bytes(np.zeros(16000, np.int16), 16000))
    with pytest.raises(DataFormatError) as err:
        get_workload("tiny-kws", bad).eval_split()
    _one_line(err, "stray.wav")
    (bad / "stray.wav").unlink()
    (bad / "yes" / "fast.wav").write_bytes(pcm16_bytes(np.zeros(8000, np.int16), 8000))
    with pytest.raises(DataFormatError) as err:
        get_workload("tiny-kws", bad).eval_split()
    assert "8000 Hz" in _one_line(err, "fast.wav")
    not_tar = tmp_path / "x.tar.gz"
    not_tar.write_bytes(b"not an archive")
    with pytest.raises(DataFormatError) as err:
        get_workload("tiny-kws", not_tar)
    _one_line(err, "x.tar.gz")

    vww = tmp_path / "vww"
    shutil.copytree(data["tiny-vww"], vww)
    from PIL import Image

    Image.new("RGB", (64, 64)).save(vww / "person" / "COCO_train2014_000000000001.jpg")
    with pytest.raises(DataFormatError) as err:
        get_workload("tiny-vww", vww).eval_split()
    assert "96x96" in _one_line(err, "COCO_train2014_000000000001.jpg")
    (vww / "cat").mkdir()
    with pytest.raises(DataFormatError) as err:
        get_workload("tiny-vww", vww)
    _one_line(err, "cat")

    ad = tmp_path / "ad"
    shutil.copytree(data["tiny-ad"].parent.parent, ad)
    test = ad / "dev_data" / "ToyCar" / "test"
    (test / "normal_id_01_00000023.wav").write_bytes(pcm16_bytes(np.zeros(1000, np.int16), 16000))
    with pytest.raises(DataFormatError) as err:
        get_workload("tiny-ad", ad).eval_split()
    _one_line(err, "normal_id_01_00000023.wav")
    (test / "normal_id_01_00000023.wav").unlink()
    (test / "clip.wav").write_bytes(b"")
    with pytest.raises(DataFormatError) as err:
        get_workload("tiny-ad", ad)
    _one_line(err, "clip.wav")


def test_archive_member_outside_the_archive_is_refused(tmp_path):
    path = tmp_path / tiny_kws.ARCHIVE_NAME
    raw = pcm16_bytes(np.zeros(16000, np.int16), 16000)
    with tarfile.open(path, "w:gz") as tar:
        import io

        info = tarfile.TarInfo("../yes/evil.wav")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    with pytest.raises(DataFormatError) as err:
        get_workload("tiny-kws", path).eval_split()
    assert "outside the archive" in _one_line(err, "evil.wav")


# -- the reference-data check --------------------------------------------------------------


def test_published_pins_name_their_source():
    assert [p.file for p in PUBLISHED["tiny-ic"]] == ["test_batch", "batches.meta"]
    assert PUBLISHED["tiny-ic"][0].digest == "40351d587109b95175f43aff81a1287e"
    assert "torchvision" in PUBLISHED["tiny-ic"][0].source
    assert PUBLISHED["tiny-kws"][0].digest.startswith("cc2a00c1")
    assert PUBLISHED["tiny-vww"] == () and PUBLISHED["tiny-ad"] == ()


def test_data_that_matches_no_published_checksum_is_non_reference(data):
    ic = get_workload("tiny-ic", data["tiny-ic"]).data_check()
    assert not ic.reference and ic.pinned_by == "published"
    assert "md5" in ic.summary and "40351d58" in ic.summary and "torchvision" in ic.summary
    assert set(ic.files) == {"test_batch", "batches.meta"}
    folder = get_workload("tiny-kws", data["kws-folder"]).data_check()
    assert not folder.reference and "give --data the archive" in folder.summary
    vww = get_workload("tiny-vww", data["tiny-vww"]).data_check()
    assert (
        not vww.reference and vww.pinned_by == "none" and "no checksum is published" in vww.summary
    )


def test_the_test_hook_pins_and_says_so(data):
    wl = get_workload("tiny-ic", data["tiny-ic"])
    pins = tiny_data.sha256_pins({n: wl.folder / n for n in ("test_batch", "batches.meta")})
    with pin_for_tests("tiny-ic", pins):
        assert pins_for("tiny-ic")[1] == "test-hook"
        check = get_workload("tiny-ic", data["tiny-ic"]).data_check()
    assert check.reference and check.pinned_by == "test-hook" and "test hook" in check.summary
    assert pins_for("tiny-ic")[1] == "published"  # the hook ends with its block
    bad = dict(pins, test_batch="0" * 64)
    with pin_for_tests("tiny-ic", bad):
        check = get_workload("tiny-ic", data["tiny-ic"]).data_check()
    assert not check.reference and "test_batch" in check.summary


def test_eval_hash_follows_every_evaluated_file(data, tmp_path):
    folder = tmp_path / "vww"
    shutil.copytree(data["tiny-vww"], folder)
    before = get_workload("tiny-vww", folder).eval_data_sha256()
    victim = sorted((folder / "person").iterdir())[0]
    victim.write_bytes(victim.read_bytes() + b"\0")
    assert get_workload("tiny-vww", folder).eval_data_sha256() != before


# -- end to end ----------------------------------------------------------------------------

SHAPES = {
    "tiny-ic": ((32, 32, 3), 10),
    "tiny-kws": ((49, 10, 1), 12),
    "tiny-vww": ((96, 96, 3), 2),
    "tiny-ad": ((640,), 1),
}


@pytest.mark.parametrize("workload", sorted(SHAPES))
def test_each_workload_runs_end_to_end_as_non_reference_data(workload, data, tmp_path):
    shape, classes = SHAPES[workload]
    model = linear_classifier(tmp_path / "m.onnx", in_shape=shape, num_classes=classes)
    rec = quick_run(workload, data[workload], model)
    w = rec.workload
    assert w.name == workload and w.data_source == f"user:{data[workload]}"
    assert w.reference_data is False and w.data_check
    assert 0.0 <= rec.quality.value <= 1.0
    grade = grade_record(rec, load_scale())
    assert grade.letter is None and "non-reference data" in (grade.reason or "")
    assert "non-reference data" in (data_reason(rec) or "")


def _scale_with(workload: str) -> Scale:
    """The shipped scale plus thresholds for ``workload`` (tiny-* have none yet)."""
    base = load_scale()
    ws = base.workloads["vision-digits"].model_copy(update={"workload": workload})
    return base.model_copy(update={"workloads": {**base.workloads, workload: ws}})


def test_with_the_hook_the_same_run_is_gradable_but_never_certifiable(data, tmp_path):
    wl = get_workload("tiny-kws", data["tiny-kws"])
    pins = tiny_data.sha256_pins({tiny_kws.ARCHIVE_NAME: data["tiny-kws"]})
    model = linear_classifier(tmp_path / "m.onnx", in_shape=(49, 10, 1), num_classes=12)
    with pin_for_tests("tiny-kws", pins):
        rec = quick_run("tiny-kws", data["tiny-kws"], model)
    w = rec.workload
    assert w.reference_data is True and w.data_pinned_by == "test-hook"
    assert w.data_files_sha256 == pins and w.eval_data_sha256 == pins[tiny_kws.ARCHIVE_NAME]
    assert data_reason(rec) is None  # reference data: gradable
    assert wl.info.name == "tiny-kws"
    # no scale has tiny-kws thresholds yet: with one, and the gate passed, it gets a letter
    passed = rec.model_copy(
        update={"quality": rec.quality.model_copy(update={"value": 0.95, "passed": True})}
    )
    grade = grade_record(passed, _scale_with("tiny-kws"))
    assert grade.letter is not None
    assert not grade.certifiable
    assert f"[reference-data] {TEST_HOOK_BLOCKER}" in grade.certification_blockers
    # without thresholds it says so (not a data problem)
    assert "no thresholds for workload 'tiny-kws'" in (grade_record(rec, load_scale()).reason or "")


def test_ad_model_outputting_its_reconstruction_is_scored_by_mse(data, tmp_path):
    w = np.eye(640)  # identity: a perfect reconstruction, every score 0
    model = linear_classifier(tmp_path / "id.onnx", in_shape=(640,), num_classes=640, weights=w)
    rec = quick_run("tiny-ad", data["tiny-ad"], model)
    assert rec.quality.value == 0.5  # all ties
    assert "output" in rec.engine.settings["model_interface"]


def test_the_command_line_runs_a_tiny_workload_and_refuses_in_one_line(data, tmp_path):
    from typer.testing import CliRunner

    from ecoscore.cli import app
    from ecoscore.record import load_record

    model = linear_classifier(tmp_path / "m.onnx", in_shape=(3, 32, 32))
    base = ["run", "-w", "tiny-ic", "--data", str(data["tiny-ic"]), "--model", str(model)]
    base += ["--quick", "--repeats", "1", "--meter", "estimate", "--out", str(tmp_path / "o")]
    res = CliRunner().invoke(app, [*base, "--layout", "nchw"])
    assert res.exit_code == 0, res.output
    (path,) = (tmp_path / "o" / "runs").glob("*.json")
    rec = load_record(path)
    assert rec.engine.config["layout"] == "NCHW" and rec.workload.reference_data is False
    res = CliRunner().invoke(app, [*base, "--output", "nope"])
    assert res.exit_code == 3
    line = res.output.strip().splitlines()[-1]
    assert "--output 'nope': no such output (outputs: logits float32 (batch, 10))" in line
    res = CliRunner().invoke(app, [*base, "--layout", "NHWC"])
    assert res.exit_code == 3 and "is not NHWC (batch, 32, 32, 3)" in res.output
    res = CliRunner().invoke(app, ["run", "-w", "tiny-ic", "--model", str(model)])
    assert res.exit_code == 3 and "give --data PATH" in res.output
