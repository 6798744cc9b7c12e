"""The exports a newcomer makes first are refused with a message that says what to change
(exit 3), not a crash (exit 1): a fixed batch of 1 (``torch.onnx.export`` without
``dynamic_shapes``) and skl2onnx's default outputs (class labels first)."""

from __future__ import annotations

from pathlib import Path

import onnx
from typer.testing import CliRunner

from ecoscore.cli import app
from tests.onnx_models import linear_classifier

runner = CliRunner()


def test_a_fixed_batch_of_one_runs_offline_at_batch_one(tmp_path: Path) -> None:
    path = linear_classifier(tmp_path / "fixed.onnx")
    model = onnx.load(str(path))
    for value_info in (model.graph.input[0], model.graph.output[0]):
        dim = value_info.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_param")
        dim.dim_value = 1
    onnx.save(model, str(path))
    res = runner.invoke(app, ["run", "-w", "vision-digits", "--model", str(path), "--quick",
                              "--meter", "estimate", "--out", str(tmp_path / "out")])  # fmt: skip
    assert res.exit_code == 0, res.output
    from ecoscore.record import load_record

    (path,) = (tmp_path / "out" / "runs").glob("*.json")
    offline = load_record(path).scenario("offline")
    assert offline is not None and offline.batch_size == 1
    assert offline.batch_note is not None and "fixed batch of 1" in offline.batch_note


def test_skl2onnx_default_outputs_are_refused_with_advice(tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    from ecoscore.benchmarks.registry import get_workload

    train = get_workload("nlp-intent").train_split()
    clf = LogisticRegression(max_iter=200).fit(train.x[:400], train.y[:400])
    onx = to_onnx(clf, initial_types=[("input", FloatTensorType([None, train.x.shape[1]]))])
    path = tmp_path / "default.onnx"
    path.write_bytes(onx.SerializeToString())
    assert [o.name for o in onx.graph.output] == ["output_label", "output_probability"]
    res = runner.invoke(app, ["run", "-w", "nlp-intent", "--model", str(path), "--quick",
                              "--meter", "estimate", "--out", str(tmp_path / "out")])  # fmt: skip
    assert res.exit_code == 3, res.output
    assert "output_label" in res.output and "output_probability" in res.output
    assert "{'zipmap': False}" in res.output
