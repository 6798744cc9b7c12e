"""``ecoscore reproduce`` on a genuine quick record made on this machine (about 20 s)."""

import json

import typer
from typer.testing import CliRunner

from ecoscore.commands import compare as compare_cmd
from ecoscore.commands import reproduce as reproduce_cmd
from ecoscore.jury.replicate import engine_options, find_model_file
from ecoscore.record import load_record, save_record
from tests.onnx_models import linear_classifier
from tests.record_factory import make_record
from tests.run_helpers import quick_record


def app() -> typer.Typer:
    a = typer.Typer()
    reproduce_cmd.register(a)
    compare_cmd.register(a)
    return a


def test_reproduce_on_the_same_machine_is_replicated(tmp_path):
    original = quick_record(tmp_path, repeats=3)
    path = save_record(original, tmp_path / "results")
    out = tmp_path / "again"
    runner = CliRunner()
    res = runner.invoke(
        app(), ["reproduce", str(path), "--model", str(tmp_path / "linear.onnx"), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert f"of {original.record_id[:12]}: replicated; same hardware" in res.output
    assert "ok   quality (accuracy)" in res.output
    (rep_path,) = (out / "runs").glob("*.json")
    rep = load_record(rep_path)
    assert rep.record_type == "replication" and rep.replicates == original.record_id
    assert rep.quality.value == original.quality.value
    assert rep.engine.settings["intra_op_num_threads"] == 1
    assert rep.run.quick and rep.run.repeats == original.run.repeats
    assert rep.provenance.notes.startswith(f"replication of {original.record_id}: replicated")

    res = runner.invoke(app(), ["compare", str(path), str(rep_path)])
    assert res.exit_code == 0, res.output
    assert f"of {original.record_id[:12]}: replicated; same hardware" in res.output


def test_reproduce_refuses_a_model_whose_sha256_differs(tmp_path):
    rec = make_record()  # its model sha256 is made up
    path = save_record(rec, tmp_path)
    other = linear_classifier(tmp_path / "other.onnx")
    res = CliRunner().invoke(app(), ["reproduce", str(path), "--model", str(other)])
    assert res.exit_code == 3
    assert "differs from the recorded model" in res.output and "refusing" in res.output
    res = CliRunner().invoke(app(), ["reproduce", str(path)])
    assert res.exit_code == 3
    assert "not one of the reference models" in res.output


def test_reference_model_is_found_by_sha256(repo):
    from ecoscore.benchmarks.base import file_sha256

    manifest = json.loads((repo / "models/vision_digits/manifest.json").read_text())
    onnx = repo / "models/vision_digits" / manifest["models"][0]["files"]["onnx"]
    rec = make_record(updates={"model": {"sha256": file_sha256(onnx)}})
    assert find_model_file(rec, None) == onnx


def test_engine_options_follow_the_recorded_settings():
    rec = make_record(
        updates={
            "engine": {
                "name": "onnxruntime",
                "settings": {
                    "intra_op_num_threads": 2,
                    "inter_op_num_threads": 1,
                    "allow_spinning": False,
                    "graph_optimization_level": "ORT_ENABLE_BASIC",
                },
            }
        }
    )
    assert engine_options(rec) == {
        "intra_op_threads": 2,
        "inter_op_threads": 1,
        "allow_spinning": False,
        "graph_optimization": "basic",
    }
    torch_rec = make_record(updates={"engine": {"name": "torch", "settings": {"num_threads": 3}}})
    assert engine_options(torch_rec) == {"threads": 3}
