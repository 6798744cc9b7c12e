"""Meter cost: CPU time of the meters' background threads at their default rate.

Target (issue #7): under 2 % of one core. The Jetson meter (a sampled meter at 100 Hz)
reads a fake INA3221 hwmon tree through its real parsing code; the RAPL meter's wrap-safe
accumulator thread reads a fake powercap tree. The thread's CPU time is read from its own
CPU clock (``pthread_getcpuclockid``), so the main thread's work does not count.
"""

from __future__ import annotations

import time

import pytest

from tests.fake_sysfs import RaplZone, make_jetson_hwmon, make_powercap, write_device_tree_model
from tests.perf.figures import limit, median, report

TARGET_SHARE = 0.02
LOOSE_SHARE = 0.10
LIMIT = limit(TARGET_SHARE, LOOSE_SHARE)
TITLE = "meter background threads (share of one core; target < 2 %)"
WINDOW_S = 1.0


def thread_cpu_s(thread) -> float:
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def measure_thread(benchmark, meter, thread, name: str) -> None:
    shares: list[float] = []
    periods: list[float] = []

    def window() -> None:
        c0, t0 = thread_cpu_s(thread), time.perf_counter()
        meter.begin_window()
        time.sleep(WINDOW_S)
        reading = meter.end_window()
        shares.append((thread_cpu_s(thread) - c0) / (time.perf_counter() - t0))
        achieved = reading.details.get("achieved_period_s")
        if achieved:
            periods.append(float(achieved))

    benchmark.pedantic(window, rounds=3, warmup_rounds=0)
    share = median(shares)
    benchmark.extra_info.update(cpu_share_of_one_core=share)
    text = f"{share * 100:.2f} %"
    if periods:
        rate = 1 / median(periods)
        benchmark.extra_info["achieved_rate_hz"] = rate
        text += f", achieved {rate:.1f} Hz (nominal {1 / meter.info.sampling_period_s:.0f} Hz)"
    report(TITLE, name, text)
    assert share < LIMIT


@pytest.mark.benchmark(group="meter cost")
def test_jetson_sampler_cpu_share(benchmark, tmp_path, monkeypatch):
    from ecoscore.runners.meters.jetson import DEFAULT_PERIOD_S, JetsonMeter

    write_device_tree_model(tmp_path, "NVIDIA Jetson Orin Nano Developer Kit")
    make_jetson_hwmon(tmp_path, {"VDD_IN": (5000, 1200), "VDD_CPU_GPU_CV": (5000, 400)})
    monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(tmp_path))
    meter = JetsonMeter()
    assert meter.info.sampling_period_s == DEFAULT_PERIOD_S
    meter.start()
    try:
        measure_thread(benchmark, meter, meter._thread, "jetson sampler (fake hwmon)")
        assert benchmark.extra_info["achieved_rate_hz"] > 0.8 / DEFAULT_PERIOD_S
    finally:
        meter.close()


@pytest.mark.benchmark(group="meter cost")
def test_rapl_accumulator_cpu_share(benchmark, tmp_path, monkeypatch):
    from ecoscore.runners.meters.rapl import RaplMeter

    make_powercap(tmp_path, [RaplZone("intel-rapl:0", "package-0")])
    monkeypatch.setenv("ECOSCORE_SYSFS_ROOT", str(tmp_path))
    meter = RaplMeter(measure_period=False)
    meter.start()
    try:
        report(TITLE, "rapl poll period", f"{meter.poll_period_s:g} s")
        measure_thread(benchmark, meter, meter._thread, "rapl accumulator (fake powercap)")
    finally:
        meter.close()
