"""Cross-check a record's GPU energy against an independent power log of the same windows.

The NVML meter reads the GPU's cumulative energy counter at window edges. An independent
reading of the same windows: ``nvidia-smi`` sampling the instantaneous power field, started
beside the run, whose samples are integrated over each window's wall-clock span
(``t0_unix``/``t1_unix`` in every window's details)::

    nvidia-smi --query-gpu=timestamp,power.draw.instant --format=csv,noheader,nounits \\
        -lms 20 -i 0 > smi.log &
    ecoscore run --device cuda:0 --engine torch --meter nvml ...
    python -m ecoscore.runners.crosscheck results/runs/<id>.json smi.log
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

import numpy as np

from ecoscore.files import read_untrusted
from ecoscore.record import load_record
from ecoscore.runners.meters.base import MeterError
from ecoscore.runners.meters.csv_log import PowerLog, energy_between

#: Largest nvidia-smi log read.
MAX_SMI_LOG_BYTES = 1024**3


def read_nvidia_smi_log(path: Path) -> PowerLog:
    """Parse ``timestamp, power`` lines of nvidia-smi (local time, as nvidia-smi writes it)."""
    ts, ps = [], []
    data = read_untrusted(Path(path), MAX_SMI_LOG_BYTES, MeterError, "log of nvidia-smi")
    for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            stamp, power = (f.strip() for f in line.split(",")[:2])
            t = datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").timestamp()
            ps.append(float(power))
            ts.append(t)
        except ValueError:
            if n == 1 or "[N/A]" in line or "Not Supported" in line:
                raise MeterError(
                    f"{path} line {n}: not an nvidia-smi power sample: {line!r}"
                ) from None
            continue  # a line cut when the logger was stopped
    t = np.asarray(ts)
    order = np.argsort(t, kind="stable")
    t, p = t[order], np.asarray(ps)[order]
    keep = np.concatenate([[True], np.diff(t) > 0])
    return PowerLog(t[keep], p[keep], "gpu")


def crosscheck(record_path: Path, log_path: Path) -> dict[str, object]:
    rec = load_record(record_path)
    log = read_nvidia_smi_log(log_path)
    rows = []
    for s in rec.scenarios:
        for i, w in enumerate(s.windows):
            t0, t1 = w.details.get("t0_unix"), w.details.get("t1_unix")
            if not w.valid or t0 is None or t1 is None:
                continue
            ref = energy_between(log, float(t0), float(t1))
            if not ref.valid:
                continue
            rows.append(
                {
                    "scenario": s.name,
                    "window": i,
                    "duration_s": round(float(t1) - float(t0), 3),
                    "meter_j": round(w.energy_j, 3),
                    "smi_j": round(ref.energy_j, 3),
                    "smi_samples": ref.sensor_updates,
                    "rel_diff": round((w.energy_j - ref.energy_j) / ref.energy_j, 4),
                }
            )
    diffs = np.array([r["rel_diff"] for r in rows]) if rows else np.array([])
    return {
        "record": rec.record_id,
        "meter": rec.meter.source,
        "independent": "nvidia-smi power.draw.instant samples, trapezoid-integrated",
        "log_median_period_s": log.median_period_s,
        "windows": rows,
        "median_rel_diff": float(np.median(diffs)) if rows else None,
        "max_abs_rel_diff": float(np.max(np.abs(diffs))) if rows else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("record", type=Path)
    ap.add_argument("log", type=Path)
    ap.add_argument("--json", type=Path, help="also write the comparison as JSON")
    args = ap.parse_args()
    res = crosscheck(args.record, args.log)
    for r in res["windows"]:  # type: ignore[union-attr]
        print(
            f"{r['scenario']:14s} #{r['window']}  {r['duration_s']:7.3f} s  "
            f"meter {r['meter_j']:10.3f} J  smi {r['smi_j']:10.3f} J  diff {r['rel_diff']:+.2%}"
        )
    print(f"median diff {res['median_rel_diff']}, max |diff| {res['max_abs_rel_diff']}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
