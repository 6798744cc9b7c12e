"""ecoscore's single-stream p50 against the best bare loop, for the vision-digits reference
(digits-cnn) and baseline (digits-logreg) models, through onnxruntime and torch.

"ecoscore" is what ``ecoscore run`` does with its defaults: the config leaves the thread
settings ``"auto"`` (``runners.tuning.auto_settings``), the tuner tries them during a full
run's warm-up budget and keeps the best by latency (no energy sensor here), then
``measure_windows`` measures a single-stream window. "Bare" is the engine call in a plain
loop at each simple setting (onnxruntime: intra-op threads 1..N, spinning on and off; torch:
``set_num_threads`` 1..N), one clock read per call. After one tuning, ``ROUNDS`` rounds
alternate an ecoscore window with a bare window at every setting, in one process, so that
a drift of the machine's load falls on all of them; the ratio is ecoscore's median p50 over
the rounds divided by the lowest of the settings' median p50s. The engine's default setting
(every logical CPU, spinning on) is reported against the best too.

Target (issue #19): <= 1.10 on a quiet 2-core machine. The test asserts the loose bound
``LOOSE`` on a shared machine, the target with ``ECOSCORE_PERF_STRICT=1``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecoscore.runners.loop import ScenarioSettings, _single_stream_window, measure_windows
from tests.perf.conftest import REPO, make_batches
from tests.perf.figures import limit, median, report

TARGET = 1.10
LOOSE = 1.5
LIMIT = limit(TARGET, LOOSE)
TITLE = "ecoscore single-stream p50 / best bare-loop p50 (target <= 1.10)"
ROUNDS = 8
WINDOW_S = 0.25
#: A full run's warm-up (ScenarioDefaults.warmup_s): the tuner's budget is twice it.
WARMUP_S = 2.0
MODELS = REPO / "models" / "vision_digits"


def _case_id(case: tuple[str, str]) -> str:
    return f"{case[0]}-{case[1]}"


CASES = [
    ("digits_cnn", "onnxruntime"),
    ("digits_logreg", "onnxruntime"),
    ("digits_cnn", "torch"),
    ("digits_logreg", "torch"),
]


def _model(name: str, engine: str) -> Path:
    return MODELS / f"{name}.{'onnx' if engine == 'onnxruntime' else 'pt2'}"


def _p50(engine, batches) -> float:
    lat, _ = _single_stream_window(engine, batches, int(WINDOW_S * 1e9), 1, False, 200_000)
    return float(np.median(lat))


@pytest.mark.benchmark(group="tuned vs bare")
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_tuned_p50_against_best_bare_loop(benchmark, case):
    from ecoscore.benchmarks.registry import get_workload
    from ecoscore.runners.engines.registry import config_class, engine_config
    from ecoscore.runners.meters.codecarbon_estimate import CodeCarbonCpuEstimate
    from ecoscore.runners.tuning import Tuner, auto_settings, candidates, search_space

    name, engine_name = case
    if engine_name == "torch":
        pytest.importorskip("torch")
    path = _model(name, engine_name)
    x = get_workload("vision-digits").eval_split().x
    requested = engine_config(engine_name, **auto_settings(config_class(engine_name), "cpu", {}))
    tuned = requested.build()
    tuned.load(path)
    batches = make_batches(tuned, x, 1)
    meter = CodeCarbonCpuEstimate()
    tuning = Tuner(tuned, requested, meter, 2.0 * WARMUP_S).run(batches, 1)
    settings = ScenarioSettings("single_stream", 1, WINDOW_S, 1, 0.2, 1, quick=True)

    # one bare engine per setting (onnxruntime fixes them per session); torch's thread
    # count is process-wide, so it is set before each of its bare windows
    space = search_space(requested)
    bare = []
    for cand in candidates(space):
        cfg = engine_config(engine_name, **cand)
        eng = cfg.build()
        eng.load(path)
        bare.append((cand, eng, make_batches(eng, x, 1)))

    def use(engine, cand) -> None:
        if engine_name == "torch":
            engine.apply_settings(**cand)

    ecoscore_p50: list[float] = []
    bare_p50: dict[str, list[float]] = {str(c): [] for c, _, _ in bare}

    def one_round() -> None:
        use(tuned, tuning.chosen)
        raw = measure_windows(tuned, meter, batches, settings)
        ecoscore_p50.append(float(np.median(raw.latencies[0])))
        for cand, eng, b in bare:
            use(eng, cand)
            bare_p50[str(cand)].append(_p50(eng, b))

    try:
        benchmark.pedantic(one_round, rounds=ROUNDS, warmup_rounds=1)
    finally:
        tuned.close()
        for _, eng, _ in bare:
            eng.close()
    ours = median(ecoscore_p50[-ROUNDS:])
    per_setting = {k: median(v[-ROUNDS:]) for k, v in bare_p50.items()}
    best_key = min(per_setting, key=per_setting.__getitem__)
    ratio = ours / per_setting[best_key]
    benchmark.extra_info.update(
        ratio=ratio,
        ecoscore_p50_s=ours / 1e9,
        chosen=tuning.chosen,
        best_bare=best_key,
        bare_p50_s={k: v / 1e9 for k, v in per_setting.items()},
    )
    report(
        TITLE,
        f"{name} {engine_name}",
        f"{ratio:.3f} (ecoscore {ours / 1e3:.2f} us at {tuning.chosen}; best bare "
        f"{per_setting[best_key] / 1e3:.2f} us at {best_key})",
    )
    default = {"threads": max(c["threads"] for c, _, _ in bare)}
    if engine_name == "onnxruntime":
        default["spinning"] = True
    default_ratio = per_setting[str(default)] / per_setting[best_key]
    benchmark.extra_info["engine_default_ratio"] = default_ratio
    report(TITLE, f"  engine default {default} / best bare", f"{default_ratio:.3f}")
    assert ratio < LIMIT
