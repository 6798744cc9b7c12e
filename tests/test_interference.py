"""Other processes busy during a window are seen and flagged."""

import subprocess
import sys
import time

from ecoscore.runners.interference import OTHER_CPU_SHARE_THRESHOLD, InterferenceProbe


def test_a_busy_neighbour_is_flagged():
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start
        probe = InterferenceProbe()
        probe.begin()
        time.sleep(0.6)  # this process sleeps: the busy CPU is the neighbour's
        seen = probe.end()
    finally:
        hog.kill()
        hog.wait()
    # one of the machine's cores was fully busy
    assert seen["other_cpu_share"] >= min(0.9 / probe.cpus, 0.45)
    assert seen["other_cpu_share"] > OTHER_CPU_SHARE_THRESHOLD
    assert "other processes used" in seen["interference"]
    assert seen["own_cpu_share"] < 0.1


def test_own_work_is_not_counted_as_interference():
    probe = InterferenceProbe()
    probe.begin()
    t = time.perf_counter()
    while time.perf_counter() - t < 0.5:
        pass
    seen = probe.end()
    assert seen["own_cpu_share"] >= 0.8 / probe.cpus
