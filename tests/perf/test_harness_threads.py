"""Harness cost: the same engine, at its default threads (one intra-op thread per logical
CPU, spinning on), with and without the harness's own work during a window.

"With" is what a run does around a single-stream window: the RAPL meter's accumulator
thread polling a (fake) powercap tree at its period, the interference probe at the window
edges, and the progress display updated between windows (``ecoscore run`` redraws it only
then: ``auto_refresh=False``). "Without" is the same window loop with none of them. The two
alternate, many times, in one process (``ROUNDS``), so that a drift of a shared machine's
load falls on both; the figure is the median over rounds of the ratio of each round's p50
latency (and time per query) to its neighbour's.

For comparison, the same is measured with a display that redraws itself from its own
thread ten times a second (rich's default, which ``ecoscore run`` no longer uses).

Target (issue #19): at most 3 % (ratio <= 1.03). The test asserts the loose bound
``LOOSE`` on a shared machine, the target with ``ECOSCORE_PERF_STRICT=1``.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from ecoscore.runners.loop import ScenarioSettings, _single_stream_window, measure_windows
from tests.fake_sysfs import RaplZone, make_powercap
from tests.perf.conftest import REPO, make_batches
from tests.perf.figures import limit, median, report

TARGET = 1.03
LOOSE = 1.25
LIMIT = limit(TARGET, LOOSE)
TITLE = "harness threads (with / without, engine default threads; target <= 1.03)"
ROUNDS = 30
WINDOW_S = 0.25
#: The issue's model: the vision-digits reference CNN.
MODEL = REPO / "models" / "vision_digits" / "digits_cnn.onnx"


def _display(auto_refresh: bool):
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        auto_refresh=auto_refresh,
    )
    return bar


@pytest.fixture(scope="module")
def default_engine():
    from ecoscore.runners.engines.registry import make_engine

    engine = make_engine("onnxruntime")  # the engine's defaults: threads = CPUs, spinning on
    engine.load(MODEL)
    yield engine
    engine.close()


@pytest.mark.benchmark(group="harness threads")
@pytest.mark.parametrize("display", ["between windows", "auto refresh 10 Hz"])
def test_harness_threads_cost(benchmark, default_engine, tmp_path, monkeypatch, display):
    from ecoscore.benchmarks.registry import get_workload
    from ecoscore.runners.interference import InterferenceProbe
    from ecoscore.runners.meters.rapl import RaplMeter

    make_powercap(tmp_path, [RaplZone("intel-rapl:0", "package-0")])
    monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(tmp_path))
    engine = default_engine
    batches = make_batches(engine, get_workload("vision-digits").eval_split().x, 1)
    settings = ScenarioSettings("single_stream", 1, WINDOW_S, 1, 0.0, 1, quick=True)
    meter = RaplMeter(measure_period=False)
    probe = InterferenceProbe()
    bar = _display(display != "between windows")
    p50_ratio: list[float] = []
    time_ratio: list[float] = []
    bare_p50: list[float] = []

    def bare() -> tuple[float, float]:
        lat, n = _single_stream_window(engine, batches, int(WINDOW_S * 1e9), 1, False, 100_000)
        return float(np.median(lat)), float(lat.sum()) / n

    def harnessed() -> tuple[float, float]:
        meter.start()
        bar.start()
        task = bar.add_task("vision-digits: single_stream", total=1)
        try:

            def progress(n: int, total: int) -> None:
                bar.update(task, completed=n, total=total)
                bar.refresh()

            raw = measure_windows(engine, meter, batches, settings, progress, probe)
        finally:
            bar.remove_task(task)
            bar.stop()
            meter.close()
        lat = raw.latencies[0]
        return float(np.median(lat)), float(lat.sum()) / len(lat)

    state = {"round": 0}

    def one_round() -> None:
        k = state["round"]
        state["round"] += 1
        if k % 2 == 0:
            b, h = bare(), harnessed()
        else:
            h, b = harnessed(), bare()
        p50_ratio.append(h[0] / b[0])
        time_ratio.append(h[1] / b[1])
        bare_p50.append(b[0])

    benchmark.pedantic(one_round, rounds=ROUNDS, warmup_rounds=2)
    p50 = median(p50_ratio[-ROUNDS:])
    per_query = median(time_ratio[-ROUNDS:])
    benchmark.extra_info.update(
        p50_ratio=p50, time_per_query_ratio=per_query, bare_p50_s=median(bare_p50) / 1e9
    )
    report(
        TITLE, "engine", f"{MODEL.name}, onnxruntime {engine.config.threads} threads, spinning on"
    )
    report(TITLE, f"display {display}: p50 ratio", f"{p50:.4f}")
    report(TITLE, f"display {display}: time per query ratio", f"{per_query:.4f}")
    report(TITLE, "bare p50", f"{median(bare_p50) / 1e3:.2f} us")
    report(TITLE, "rapl poll period", f"{meter.poll_period_s:g} s")
    if display == "between windows":
        assert p50 < LIMIT
        assert per_query < LIMIT
