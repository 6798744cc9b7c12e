"""Other processes busy during a window are seen and flagged; the probe's own work is not.

The load figures and the clock are injected, so the verdicts do not depend on how busy the
test machine is. One test also reads the real /proc/stat, with an assertion that holds
whatever else runs."""

import time

import pytest

from ecoscore.runners.interference import (
    OTHER_CPU_SHARE_THRESHOLD,
    InterferenceProbe,
    machine_busy_s,
)


class Figures:
    """A fake machine: busy seconds of all cores, our own CPU seconds and the clock."""

    def __init__(self) -> None:
        self.busy, self.own, self.t = 1000.0, 10.0, 50.0

    def probe(self, cpus: int = 2) -> InterferenceProbe:
        return InterferenceProbe(
            cpus=cpus, busy_s=lambda: self.busy, own_s=lambda: self.own, clock=lambda: self.t
        )

    def elapse(self, seconds: float, own_busy: float, other_busy: float) -> None:
        self.t += seconds
        self.own += own_busy
        self.busy += own_busy + other_busy


def test_a_busy_neighbour_is_flagged() -> None:
    f = Figures()
    probe = f.probe(cpus=2)
    probe.begin()
    f.elapse(1.0, own_busy=0.0, other_busy=1.0)  # a neighbour fills one of two cores
    seen = probe.end()
    assert seen["other_cpu_share"] == pytest.approx(0.5)
    assert seen["own_cpu_share"] == 0.0
    assert seen["interference"] == "other processes used 50% of the CPUs"


def test_own_work_is_not_counted_as_interference() -> None:
    f = Figures()
    probe = f.probe(cpus=2)
    probe.begin()
    f.elapse(1.0, own_busy=2.0, other_busy=0.0)  # the engine's threads fill both cores
    seen = probe.end()
    assert seen["own_cpu_share"] == pytest.approx(1.0)
    assert seen["other_cpu_share"] == 0.0
    assert seen["interference"] is None


def test_the_threshold_is_a_share_of_all_cores() -> None:
    f = Figures()
    probe = f.probe(cpus=4)
    probe.begin()
    f.elapse(2.0, own_busy=1.0, other_busy=0.8)  # 0.8 / (2 s x 4 cores) = 10 %: not over
    assert probe.end()["interference"] is None
    probe.begin()
    f.elapse(2.0, own_busy=1.0, other_busy=0.88)  # 11 %
    seen = probe.end()
    assert seen["other_cpu_share"] > OTHER_CPU_SHARE_THRESHOLD
    assert "11%" in seen["interference"]


def test_no_proc_stat_says_unknown_not_zero() -> None:
    f = Figures()
    probe = InterferenceProbe(cpus=2, busy_s=lambda: None, own_s=lambda: f.own, clock=lambda: f.t)
    probe.begin()
    f.elapse(1.0, own_busy=0.5, other_busy=0.5)
    seen = probe.end()
    assert seen["other_cpu_share"] is None and seen["interference"] is None


def test_the_real_probe_reads_proc_stat() -> None:
    assert machine_busy_s() is not None
    probe = InterferenceProbe()
    probe.begin()
    time.sleep(0.05)
    seen = probe.end()
    # /proc/stat counts in clock ticks: over 50 ms a share is coarse, but it is a number
    assert seen["other_cpu_share"] >= 0.0 and seen["own_cpu_share"] >= 0.0
