"""The MLPerf Tiny reference networks (sizes as the reference counts them, TensorFlow "same"
padding) and their recipes, smoke-trained for one epoch on synthetic data in each task's
published layout; what they export runs through the workload (NCHW input, so ecoscore
transposes its NHWC arrays)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import tiny_data

torch = pytest.importorskip("torch")

from ecoscore.models import tiny_nets  # noqa: E402
from ecoscore.models.registry import reference_models  # noqa: E402


@pytest.mark.parametrize(
    ("cls", "shape", "out", "keras_total", "trainable"),
    [
        (tiny_nets.ResNet8, (2, 3, 32, 32), (2, 10), 78_666, 78_186),
        (tiny_nets.DsCnn, (2, 1, 49, 10), (2, 12), 24_908, 23_756),
        (tiny_nets.MobileNetV1, (2, 3, 96, 96), (2, 2), 221_794, 216_322),
        (tiny_nets.FcAutoencoder, (2, 640), (2, 640), 269_992, 267_928),
    ],
)
def test_networks_have_the_references_sizes(cls, shape, out, keras_total, trainable):
    net = cls().eval()
    assert tiny_nets.keras_value_count(net) == (keras_total, trainable)
    with torch.inference_mode():
        assert tuple(net(torch.zeros(shape)).shape) == out


def test_same_padding_puts_the_extra_row_at_the_end():
    assert tiny_nets.same_padding(32, 3, 2) == (0, 1)
    assert tiny_nets.same_padding(32, 3, 1) == (1, 1)
    assert tiny_nets.same_padding(49, 10, 2) == (4, 5)
    assert tiny_nets.same_padding(10, 4, 2) == (1, 1)
    conv = tiny_nets.SameConv2d(1, 1, 3, 2, (4, 4))
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    # TF: output (0, 0) covers rows 0-2 and columns 0-2 (no padding before)
    assert conv(x)[0, 0, 0, 0].item() == sum(
        x[0, 0, r, c].item() for r in range(3) for c in range(3)
    )


def test_manifests_ship_recipes_and_no_weights():
    for wl in ("tiny-ic", "tiny-kws", "tiny-vww", "tiny-ad"):
        assert reference_models(wl) == []
        folder = Path(__file__).resolve().parents[1] / "models" / wl.replace("-", "_")
        doc = json.loads((folder / "manifest.json").read_text())
        assert {r["role"] for r in doc["recipes"]} == {"reference", "baseline"}
        assert "No weights are shipped" in (folder / "CARD.md").read_text()


def _smoke(module, tmp_path: Path, args: list[str]) -> dict:
    out = tmp_path / "out"
    assert module.main([*args, "--out", str(out), "--epochs", "1", "--limit", "64"]) == 0
    return json.loads((out / "summary.json").read_text())


def _runs_through_ecoscore(workload: str, data: Path, model: Path):
    from ecoscore.benchmarks.registry import get_workload
    from ecoscore.runners.benchmark import RunRequest, run_benchmark
    from ecoscore.runners.engines.registry import engine_config
    from ecoscore.runners.host import describe_device
    from ecoscore.runners.meters.codecarbon_estimate import CodeCarbonCpuEstimate

    engine = "torch" if model.suffix == ".pt2" else "onnxruntime"
    req = RunRequest(
        workload=get_workload(workload, data),
        model_path=model,
        model_name=model.stem,
        model_role="user",
        engine_config=engine_config(engine, threads=1),
        meter=CodeCarbonCpuEstimate(),
        device=describe_device(),
        quick=True,
        repeats=1,
        scenarios=("single_stream",),
    )
    return run_benchmark(req)


@pytest.mark.slow
def test_ic_recipe_smoke(tmp_path):
    from ecoscore.models.tiny_ic import train

    data = tiny_data.write_cifar(tmp_path / "ic")
    summary = _smoke(train, tmp_path, ["--data", str(data)])
    ref, base = summary["models"]
    assert ref["name"] == "resnet8" and ref["parameter_count"] == 78_186
    assert base["role"] == "baseline" and base["eval_quality"] >= 0.5  # the signal is linear
    out = tmp_path / "out"
    for f in ("resnet8.onnx", "resnet8.pt2", "ic_logreg.onnx"):
        rec = _runs_through_ecoscore("tiny-ic", data, out / f)
        assert rec.workload.reference_data is False
        if f.endswith(".onnx"):
            assert rec.engine.settings["model_interface"]["layout"].startswith("NCHW")
    assert (out / "resnet8.onnx").stat().st_size < 1_500_000


@pytest.mark.slow
def test_kws_recipe_smoke(tmp_path):
    from ecoscore.models.tiny_kws import train

    test = tiny_data.write_kws_archive(tmp_path / "kws" / "speech_commands_test_set_v0.02.tar.gz")
    training = tiny_data.write_kws_training_folder(tmp_path / "sc")
    summary = _smoke(train, tmp_path, ["--data", str(test), "--train-data", str(training)])
    assert [m["name"] for m in summary["models"]] == ["ds-cnn", "kws-logreg"]
    rec = _runs_through_ecoscore("tiny-kws", test, tmp_path / "out" / "ds_cnn.onnx")
    assert rec.engine.settings["model_interface"]["layout"].startswith("NCHW")


@pytest.mark.slow
def test_vww_recipe_smoke(tmp_path):
    from ecoscore.models.tiny_vww import train

    data = tiny_data.write_vww(tmp_path / "vww")
    summary = _smoke(train, tmp_path, ["--data", str(data)])
    assert summary["models"][0]["parameter_count"] == 216_322
    rec = _runs_through_ecoscore("tiny-vww", data, tmp_path / "out" / "mobilenet_v1_0.25.onnx")
    assert rec.quality.samples == 4
    assert (tmp_path / "out" / "mobilenet_v1_0.25.onnx").stat().st_size < 1_500_000


@pytest.mark.slow
def test_ad_recipe_smoke(tmp_path):
    from ecoscore.models.tiny_ad import train

    data = tiny_data.write_toycar(tmp_path / "ad")
    summary = _smoke(train, tmp_path, ["--data", str(data)])
    ref, base = summary["models"]
    assert ref["name"] == "fc-autoencoder" and base["eval_quality"] >= 0.9  # a clear whine
    rec = _runs_through_ecoscore("tiny-ad", data, tmp_path / "out" / "fc_autoencoder.onnx")
    assert 0.0 <= rec.quality.value <= 1.0
    rec = _runs_through_ecoscore("tiny-ad", data, tmp_path / "out" / "ad_pca.pt2")
    assert rec.quality.value == pytest.approx(base["eval_quality"])
