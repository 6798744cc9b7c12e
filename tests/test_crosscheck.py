"""The GPU cross-check integrates an nvidia-smi log over each window's wall-clock span."""

from datetime import datetime

import pytest

from ecoscore.record import save_record
from ecoscore.runners.crosscheck import crosscheck, read_nvidia_smi_log
from tests.record_factory import make_record


def _smi_line(t: float, watts: float) -> str:
    return f"{datetime.fromtimestamp(t).strftime('%Y/%m/%d %H:%M:%S.%f')[:-3]}, {watts:.2f}"


def test_crosscheck_against_a_constant_power_log(tmp_path):
    rec = make_record()
    t_start = 1_800_000_000.0
    # rewrite every window to span a known interval at 200 W, as the NVML meter would record
    scenarios = []
    t = t_start + 1
    for s in rec.scenarios:
        windows = []
        for w in s.windows:
            d = w.duration_s
            windows.append(
                w.model_copy(
                    update={
                        "energy_j": 200.0 * d,
                        "valid": True,
                        "details": {**w.details, "t0_unix": t, "t1_unix": t + d},
                    }
                )
            )
            t += d + 0.5
        scenarios.append(s.model_copy(update={"windows": windows}))
    rec = rec.model_copy(update={"scenarios": scenarios}).with_id()
    path = save_record(rec, tmp_path)
    log = tmp_path / "smi.log"
    n = int((t - t_start + 2) / 0.02)
    log.write_text("\n".join(_smi_line(t_start + i * 0.02, 200.0) for i in range(n)) + "\n")
    assert read_nvidia_smi_log(log).median_period_s == pytest.approx(0.02, rel=0.01)
    res = crosscheck(path, log)
    assert len(res["windows"]) == sum(len(s.windows) for s in rec.scenarios)
    assert abs(res["median_rel_diff"]) < 1e-3
    assert res["max_abs_rel_diff"] < 0.01


def test_bad_log_is_refused(tmp_path):
    log = tmp_path / "smi.log"
    log.write_text("2026/11/23 09:00:00.000, [N/A]\n")
    with pytest.raises(Exception, match="not an nvidia-smi power sample"):
        read_nvidia_smi_log(log)
