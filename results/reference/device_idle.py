"""Re-read the committed H100 reference records against the GPU's device idle.

The records in ``runs/`` were made before ecoscore measured the device idle (the GPU with
no CUDA context, before the engine is built). Their ``idle`` is the power after the model
was loaded and quality had run, with the context held (118-124 W): their "net" is energy
above that floor. The ``nvidia-smi`` log beside them (``nvidia-smi-power.log``, 20 ms
samples) shows the GPU before each run's process took its context: this script takes
that as the device idle and recomputes, per record, the energy per inference above it.

Rules:
- the device idle of a record is the median of the log's samples in the run of
  consecutive samples under ``NO_CONTEXT_BELOW_W`` that is nearest to the record's start
  (``provenance.started_utc``), no more than ``SEARCH_S`` seconds away; without one, the
  record is reported as "no device idle in the log" (never guessed);
- the energy per inference above device idle of a window is
  (energy_j - device_idle_w x duration_s) / inferences; the figure is the median over the
  single-stream windows, beside the record's own gross and net medians;
- only the committed files are read; nothing is written.

    python results/reference/device_idle.py
"""

from __future__ import annotations

import statistics
import sys
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Between the H100's no-context idle (70-73 W in this log) and its context-held idle
#: (118-124 W).
NO_CONTEXT_BELOW_W = 100.0
SEARCH_S = 30.0


def _no_context_runs(t: list[float], p: list[float]) -> list[tuple[float, float, float]]:
    """(start, end, median watts) of each run of consecutive samples under the threshold."""
    runs, cur = [], []
    for ti, pi in zip(t, p, strict=True):
        if pi < NO_CONTEXT_BELOW_W:
            cur.append((ti, pi))
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return [(r[0][0], r[-1][0], statistics.median(x for _, x in r)) for r in runs]


def device_idle_rows(runs_dir: Path = HERE / "runs", log: Path = HERE / "nvidia-smi-power.log"):
    from ecoscore.record import load_record
    from ecoscore.runners.crosscheck import read_nvidia_smi_log

    power = read_nvidia_smi_log(log)
    segments = _no_context_runs(power.t.tolist(), power.p.tolist())
    rows = []
    for path in sorted(runs_dir.glob("*.json")):
        rec = load_record(path)
        if rec.meter.boundary != "gpu":
            continue
        start = datetime.fromisoformat(rec.provenance.started_utc).timestamp()
        near = [s for s in segments if s[0] - SEARCH_S <= start <= s[1] + SEARCH_S]
        single = rec.scenario("single_stream")
        assert single is not None and single.energy_per_inference_j is not None
        net = single.net_energy_per_inference_j
        row = {
            "record": rec.record_id[:12],
            "workload": rec.workload.name,
            "precision": rec.engine.precision,
            "ready_idle_w": rec.idle.power_w if rec.idle else None,
            "gross_mj": single.energy_per_inference_j.median * 1e3,
            "net_mj": net.median * 1e3 if net is not None else None,
            "device_idle_w": None,
            "above_device_idle_mj": None,
            "device_idle_share": None,
        }
        if near:
            idle_w = min(near, key=lambda s: abs(s[0] - start))[2]
            per = [
                (w.energy_j - idle_w * w.duration_s) / w.inferences
                for w in single.windows
                if w.inferences
            ]
            row["device_idle_w"] = idle_w
            row["above_device_idle_mj"] = statistics.median(per) * 1e3
            row["device_idle_share"] = 1 - row["above_device_idle_mj"] / row["gross_mj"]
        rows.append(row)
    return rows


def main() -> int:
    print(
        "record        workload         prec  ready idle W  device idle W  gross mJ  "
        "net mJ (old)  above device idle mJ  device idle share of gross"
    )
    for r in device_idle_rows():
        dev = f"{r['device_idle_w']:.1f}" if r["device_idle_w"] is not None else "none"
        above = (
            f"{r['above_device_idle_mj']:.1f}"
            if r["above_device_idle_mj"] is not None
            else "no device idle in the log"
        )
        share = f"{r['device_idle_share']:.0%}" if r["device_idle_share"] is not None else "-"
        print(
            f"{r['record']}  {r['workload']:<15}  {r['precision']:<4}  "
            f"{r['ready_idle_w']:>12.1f}  {dev:>13}  {r['gross_mj']:>8.1f}  "
            f"{r['net_mj']:>12.3f}  {above:>20}  {share:>26}"
        )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    raise SystemExit(main())
