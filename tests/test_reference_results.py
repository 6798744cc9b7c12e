"""The published reference records load, pass their integrity check, and say what they are."""

from ecoscore.record import load_record


def test_reference_records_are_intact_and_measured_on_the_gpu(repo):
    files = sorted((repo / "results" / "reference" / "runs").glob("*.json"))
    records = [load_record(f) for f in files]  # raises on any edited record
    gpu = [r for r in records if r.engine.device.startswith("cuda")]
    cpu = [r for r in records if r.engine.device == "cpu"]
    assert {r.workload.name for r in gpu} == {"vision-digits", "nlp-intent", "anomaly-machine"}
    assert {(r.workload.name, r.engine.precision) for r in gpu} == {
        (w, p) for w in ("vision-digits", "nlp-intent", "anomaly-machine") for p in ("fp32", "fp16")
    }
    for r in gpu:
        assert r.meter.measurement == "MEASURED" and r.meter.boundary == "gpu"
        assert r.meter.name == "nvml" and not r.run.quick
        assert r.quality.passed
        assert all(w.valid for s in r.scenarios for w in s.windows)
        assert r.device.details["gpu_name"].startswith("NVIDIA H100")
    # the host CPU had no readable sensor: those records must say ESTIMATED, never MEASURED
    assert cpu and all(r.meter.measurement == "ESTIMATED" for r in cpu)
