"""``ecoscore reproduce`` on a genuine quick record made on this machine (about 20 s)."""

import csv
import json

import pytest
import typer
from typer.testing import CliRunner

from ecoscore.commands import compare as compare_cmd
from ecoscore.commands import reproduce as reproduce_cmd
from ecoscore.jury.replicate import engine_config, find_model_file
from ecoscore.jury.signing import generate_key_pair, load_private_key, sign_record
from ecoscore.jury.trust import trusted_keys_toml
from ecoscore.record import load_record, save_record
from ecoscore.runners.engines.registry import RecordedEngineError
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

    # a replication counts in compare once a trusted key signs it
    key, _, b64 = generate_key_pair(tmp_path / "lab")
    save_record(sign_record(rep, load_private_key(key)), out)
    keys = tmp_path / "keys.toml"
    keys.write_text(trusted_keys_toml("Lab A", b64))
    res = runner.invoke(
        app(),
        ["compare", str(path), str(rep_path), "--trusted-keys", str(keys)],
    )
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
    from ecoscore.files import file_sha256

    manifest = json.loads((repo / "models/vision_digits/manifest.json").read_text())
    onnx = repo / "models/vision_digits" / manifest["models"][0]["files"]["onnx"]
    rec = make_record(updates={"model": {"sha256": file_sha256(onnx)}})
    assert find_model_file(rec, None) == onnx


@pytest.fixture
def sixteen_cpus(monkeypatch):
    """Records made on a 16-CPU machine rebuild as they are on one (threads are capped to
    the machine's CPUs: tests/test_hostile_cli.py)."""
    monkeypatch.setattr("ecoscore.runners.engines.base.machine_cpus", lambda: 16)


def test_a_legacy_record_rebuilds_its_engine_from_the_recorded_settings(sixteen_cpus):
    rec = make_record(
        updates={
            "engine": {
                "name": "onnxruntime",
                "config": None,
                "settings": {
                    "intra_op_num_threads": 2,
                    "inter_op_num_threads": 1,
                    "allow_spinning": False,
                    "graph_optimization_level": "ORT_ENABLE_BASIC",
                },
            }
        }
    )
    config = engine_config(rec)
    assert config.model_dump() == {
        "engine": "onnxruntime",
        "device": "cpu",
        "precision": "fp32",
        "threads": 2,
        "output": None,
        "layout": None,
        "inter_op_threads": 1,
        "spinning": False,
        "graph_optimization": "basic",
        "provider": None,
    }
    torch_rec = make_record(
        updates={
            "engine": {
                "name": "torch",
                "config": None,
                "device": "cuda:0",
                "precision": "fp16",
                "settings": {"num_threads": 3, "cuda_graph_batch1": True},
            }
        }
    )
    config = engine_config(torch_rec)
    assert (config.device, config.precision, config.threads, config.cuda_graph) == (
        "cuda:0",
        "fp16",
        3,
        True,
    )


def test_a_stored_engine_config_is_used_as_is_and_the_device_can_be_overridden(sixteen_cpus):
    stored = {"engine": "torch", "device": "cuda:1", "precision": "bf16", "threads": 4}
    rec = make_record(updates={"engine": {"name": "torch", "config": stored}})
    assert engine_config(rec).model_dump(include=set(stored)) == stored
    assert engine_config(rec, device="cuda:0").device == "cuda:0"
    bad = make_record(updates={"engine": {"name": "torch", "config": {**stored, "turbo": 1}}})
    with pytest.raises(RecordedEngineError, match="has no setting 'turbo'"):
        engine_config(bad)


def test_reproduce_of_a_torch_cuda_fp16_record_rebuilds_fp16(tmp_path, monkeypatch, repo):
    """The engine comes from the record's stored config: precision, device and threads.
    A fake CUDA engine (torch on the CPU that says it is the CUDA engine) stands in for the
    GPU, and NVML names the GPU, so the replication names the same hardware."""
    import ecoscore.runners.engines.torch_cuda as torch_cuda
    import ecoscore.runners.host as host
    from ecoscore.files import file_sha256
    from ecoscore.runners.engines.torch_engine import TorchEngine

    built = []

    class FakeTorchCuda(TorchEngine):
        def __init__(self, config):
            built.append(config)
            super().__init__(config)

    monkeypatch.setattr(torch_cuda, "TorchCudaEngine", FakeTorchCuda)
    monkeypatch.setattr(host, "nvidia_gpu", lambda index=0: {"gpu_name": "NVIDIA H100 80GB HBM3"})
    from ecoscore.benchmarks.registry import get_workload

    wl = get_workload("vision-digits")
    pt2 = repo / "models/vision_digits/digits_cnn.pt2"
    config = {
        "engine": "torch",
        "device": "cuda:0",
        "precision": "fp16",
        "threads": 1,
        "output": None,
        "layout": None,
        "channels_last": False,
        "compile": False,
        "cuda_graph": True,
    }
    original = make_record(
        quick=True,
        repeats=2,
        device_kind="gpu",
        device_name="NVIDIA H100 80GB HBM3",
        updates={
            "device": {"cpu_model": host.cpu_model()},
            "workload": {
                "definition_sha256": wl.info.definition_sha256(),
                "eval_data_sha256": wl.eval_data_sha256(),
            },
            "model": {"sha256": file_sha256(pt2), "file_name": pt2.name, "format": "pt2"},
            "engine": {"name": "torch", "device": "cuda:0", "precision": "fp16", "config": config},
            "meter": {"name": "codecarbon-estimate", "config": {"meter": "estimate"}},
        },
    )
    path = save_record(original, tmp_path / "results")
    out = tmp_path / "again"
    res = CliRunner().invoke(app(), ["reproduce", str(path), "--out", str(out)])
    assert res.exit_code in (0, 8), res.output  # replicated or not: the point is the engine
    # the run's engine, then the empty-call floor's (runners/empty_call.py), same settings
    assert [(c.device, c.precision, c.cuda_graph, c.threads) for c in built] == [
        ("cuda:0", "fp16", True, 1)
    ] * 2
    (rep_path,) = (out / "runs").glob("*.json")
    rep = load_record(rep_path)
    # a stored config without call_path ran the exported program's module(): so does its replication
    assert rep.engine.config == {**config, "call_path": "module"}
    assert (rep.engine.device, rep.engine.precision) == ("cuda:0", "fp16")
    assert rep.device.kind == "gpu" and rep.device.name == "NVIDIA H100 80GB HBM3"
    assert "same hardware" in res.output


def test_reproduce_quick_is_a_first_look_that_never_counts(tmp_path):
    made = quick_record(tmp_path, repeats=2)
    # the same figures presented as a full run: what an applicant submits
    original = made.model_copy(update={"run": made.run.model_copy(update={"quick": False})})
    original = original.with_id()
    path = save_record(original, tmp_path / "results")
    out = tmp_path / "again"
    res = CliRunner().invoke(
        app(),
        ["reproduce", str(path), "--model", str(tmp_path / "linear.onnx"), "--out", str(out),
         "--quick"],
    )  # fmt: skip
    assert res.exit_code in (0, 8), res.output
    assert "note: quick replication (reproduce --quick): a first look" in res.output
    assert " ms, replication " in res.output and "J, replication " in res.output  # units
    (rep_path,) = (out / "runs").glob("*.json")
    rep = load_record(rep_path)
    assert rep.record_type == "replication" and rep.run.quick
    assert rep.provenance.notes.startswith("quick replication (reproduce --quick)")
    key, _, b64 = generate_key_pair(tmp_path / "lab")
    save_record(sign_record(rep, load_private_key(key)), out)
    keys = tmp_path / "keys.toml"
    keys.write_text(trusted_keys_toml("Lab A", b64))
    table = tmp_path / "t.csv"
    res = CliRunner().invoke(
        app(),
        ["compare", str(path), str(rep_path), "--trusted-keys", str(keys), "--csv", str(table)],
    )
    assert res.exit_code == 0, res.output
    assert "quick look (does not count)" in res.output
    with open(table, newline="") as f:
        rows = {r["type"]: r for r in csv.DictReader(f)}
    assert rows["run"]["assurance"] != "lab-replicated"
    assert rows["run"]["replicated"].startswith("quick look only: ")
    assert "quick-replication" in rows["quick replication"]["flags"].split()
