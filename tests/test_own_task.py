"""A startup's own task, end to end: a workload file for an image folder and one for a CSV,
models built the way a third party builds them (a torchvision-style CNN exported with
torch.onnx; scikit-learn exported with skl2onnx), run by ``ecoscore run --workload-file``,
and graded on a call scale that a jury derived from other records.

This machine has no energy sensor, so every run here is ESTIMATED (``--meter estimate``
makes that the same on every machine) and quick: the call scale is derived with
``--allow-estimated --allow-quick``, and says so."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ecoscore.cli import app
from ecoscore.record import RunRecord, load_record
from tests.onnx_models import linear_classifier
from tests.workload_files import (
    CSV_FILE,
    IMAGE_FILE,
    pin_eval_data,
    write_image_folder,
    write_readings_csv,
)

runner = CliRunner()


def cli(*args: str) -> str:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def run(file: Path, data: Path, model: Path, out: Path, *extra: str) -> RunRecord:
    before = set((out / "runs").glob("*.json")) if (out / "runs").exists() else set()
    cli("run", "--workload-file", str(file), "--data", str(data), "--model", str(model),
        "--quick", "--repeats", "2", "--meter", "estimate", "--out", str(out), *extra)  # fmt: skip
    (new,) = set((out / "runs").glob("*.json")) - before
    return load_record(new)


def export_train(file: Path, data: Path, out: Path) -> tuple[np.ndarray, np.ndarray]:
    cli("workloads", "export-train", str(file), str(out), "--data", str(data))
    arrays = np.load(out / "train.npz")
    return arrays["x"], arrays["y"]


def torchvision_style_cnn(x: np.ndarray, y: np.ndarray, path: Path) -> Path:
    """A ResNet-style network (a stem, one basic residual block, global average pooling, a
    linear classifier), trained briefly and exported to ONNX with a dynamic batch."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class BasicBlock(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)
            self.relu = nn.ReLU()

        def forward(self, t):  # noqa: ANN001, ANN202
            out = self.relu(self.bn1(self.conv1(t)))
            return self.relu(self.bn2(self.conv2(out)) + t)

    class TinyResNet(nn.Module):
        def __init__(self, classes: int) -> None:
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU()
            )
            self.layer1 = BasicBlock(8)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, classes)

        def forward(self, t):  # noqa: ANN001, ANN202
            return self.fc(torch.flatten(self.avgpool(self.layer1(self.stem(t))), 1))

    torch.manual_seed(0)
    model = TinyResNet(2)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(30):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    model.eval()
    torch.onnx.export(
        model,
        (xt[:4],),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch")},),
    )
    return path


def sklearn_onnx(clf: object, x: np.ndarray, y: np.ndarray, path: Path) -> Path:
    """A scikit-learn classifier exported with skl2onnx, the probabilities output only."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from skl2onnx.helpers.onnx_helper import select_model_inputs_outputs

    clf.fit(x, y)  # type: ignore[attr-defined]
    onx = to_onnx(
        clf,
        initial_types=[("input", FloatTensorType([None, x.shape[1]]))],
        options={"zipmap": False},
    )
    onx = select_model_inputs_outputs(onx, outputs=["probabilities"])
    path.write_bytes(onx.SerializeToString())
    return path


def mean_brightness_model(path: Path) -> Path:
    """The jury's reference model for the image task: bright minus dark mean, a linear
    classifier built with onnx.helper."""
    n = 3 * 16 * 16
    w = np.zeros((n, 2))
    w[:, 0], w[:, 1] = -1.0 / n, 1.0 / n
    return linear_classifier(path, in_shape=(3, 16, 16), num_classes=2, weights=w)


def derive_and_grade(refs: list[RunRecord], applicant: RunRecord, tmp: Path, name: str) -> dict:
    folder = tmp / f"{name}-refs"
    for r in refs:
        from ecoscore.record import save_record

        save_record(r, folder)
    scale = tmp / f"{name}-2027.toml"
    out = cli("scale", "derive", str(folder / "runs"), "--rule", "reference", "--out",
              str(scale), "--allow-estimated", "--allow-quick")  # fmt: skip
    assert "cannot be certified" in out
    doc = tomllib.loads(scale.read_text())
    (ws,) = doc["workloads"].values()
    assert {b["record_id"] for b in ws["basis"]} == {r.record_id for r in refs}
    assert doc["scale"]["basis_measurement"] == "ESTIMATED" and doc["scale"]["allow_quick"]
    assert applicant.record_id not in scale.read_text()
    record = tmp / f"{name}-applicant.json"
    record.write_text(json.dumps(applicant.model_dump(mode="json")))
    graded = json.loads(cli("score", str(record), "--scale-file", str(scale), "--json"))
    assert graded["scale"] == f"{name}-2027.1" and graded["scale_built_on_estimates"]
    return graded["results"][0]["grade"]


def test_an_image_folder_task_with_a_torch_cnn_graded_on_a_call_scale(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    data = write_image_folder(tmp_path / "images")
    file = tmp_path / "bright-dark.toml"
    file.write_text(IMAGE_FILE)
    assert "valid, and" in cli("workload", "check", str(file), "--data", str(data))
    pin_eval_data(file, data)  # the call publishes its data's checksum
    x, y = export_train(file, data, tmp_path / "train")
    assert x.shape == (48, 3, 16, 16) and x.dtype == np.float32
    model = torchvision_style_cnn(x, y, tmp_path / "resnet.onnx")
    out = tmp_path / "results"
    applicant = run(file, data, model, out)
    assert applicant.quality.passed and applicant.quality.value >= 0.9
    assert applicant.workload.definition_file == "bright-dark.toml"
    assert applicant.workload.data_sha256 is not None
    reference = mean_brightness_model(tmp_path / "reference.onnx")
    refs = [run(file, data, reference, out, "--threads", str(t)) for t in (1, 2)]
    grade = derive_and_grade(refs, applicant, tmp_path, "images")
    assert grade["letter"] in ("A", "B", "C", "D", "E") and grade["mark"].endswith("*")
    assert not grade["certifiable"]
    assert "scale images-2027.1 is built on ESTIMATED records" in grade["certification_blockers"]


def test_a_csv_task_with_a_skl2onnx_model_graded_on_a_call_scale(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    write_readings_csv(tmp_path / "data" / "readings.csv")
    file = tmp_path / "machine-state.toml"
    file.write_text(CSV_FILE)
    pin_eval_data(file, tmp_path / "data")  # the call publishes its data's checksum
    x, y = export_train(file, tmp_path / "data", tmp_path / "train")
    assert x.shape == (180, 3)
    out = tmp_path / "results"
    model = sklearn_onnx(DecisionTreeClassifier(max_depth=4, random_state=0), x, y,
                         tmp_path / "tree.onnx")  # fmt: skip
    applicant = run(file, tmp_path / "data", model, out)
    assert applicant.quality.metric == "macro_f1" and applicant.quality.passed
    reference = sklearn_onnx(LogisticRegression(max_iter=1000), x, y, tmp_path / "logreg.onnx")
    refs = [run(file, tmp_path / "data", reference, out, "--threads", str(t)) for t in (1, 2)]
    grade = derive_and_grade(refs, applicant, tmp_path, "csv")
    assert grade["letter"] is not None and not grade["certifiable"]
    # the jury checks the record against the call's workload file, and a bundle carries it
    bundle = tmp_path / "submission.zip"
    record = tmp_path / "csv-applicant.json"
    cli("bundle", str(record), "--out", str(bundle), "--workload-file", str(file), "--no-labels")
    res = runner.invoke(app, ["verify", str(bundle)])
    assert res.exit_code == 0, res.output
    assert "workload file matches" in res.output
    other = tmp_path / "other.toml"
    other.write_text(file.read_text().replace("gate = 0.8", "gate = 0.7"))
    res = runner.invoke(app, ["verify", str(record), "--workload-file", str(other)])
    assert res.exit_code == 5 and "workload file does not match" in res.output
