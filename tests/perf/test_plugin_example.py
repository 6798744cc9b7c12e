"""Example: a researcher's pytest-benchmark test with ecoscore's ``eco_benchmark`` fixture.

    pytest -p ecoscore.runners.pytest_plugin tests/perf/test_plugin_example.py --benchmark-only \
        --benchmark-json out.json --eco-meter auto --eco-record-dir results

(``-p ecoscore.runners.pytest_plugin`` is not needed once ecoscore is installed with its pytest11
entry point; the ``--eco-*`` options need the plugin loaded at start-up either way.)

``out.json`` then holds ``joules_per_call`` and the meter's boundary and MEASURED/ESTIMATED
status in this benchmark's ``extra_info``; with ``--eco-record-dir`` an ecoscore run record
of the measured model is written as well.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import numpy as np

from tests.perf.conftest import make_batches

# once ecoscore is installed, its pytest11 entry point loads the plugin; before that, here
if not any(ep.value == "ecoscore.runners.pytest_plugin" for ep in entry_points(group="pytest11")):
    pytest_plugins = ["ecoscore.runners.pytest_plugin"]


def test_digits_model_joules_per_call(eco_benchmark, perf_engine, perf_inputs, perf_model):
    batch = make_batches(perf_engine, perf_inputs, 1, count=1)[0]
    out = eco_benchmark(perf_engine.run_prepared, batch)
    assert out.shape[0] == 1
    info = eco_benchmark.extra_info
    assert info["energy_measurement"] in ("MEASURED", "ESTIMATED")
    if info["window_valid"]:
        assert info["joules_per_call"] > 0
    if eco_benchmark.session.record_dir is not None:
        from ecoscore.benchmarks.registry import get_workload

        split = get_workload(perf_model[0]).eval_split()
        pred = np.concatenate(
            [perf_engine.run(split.x[i : i + 64]) for i in range(0, len(split.x), 64)]
        )
        quality = get_workload(perf_model[0]).score(pred, split.y)
        eco_benchmark.write_record(
            perf_model[0], perf_model[1], quality, engine={"name": "onnxruntime"}
        )
