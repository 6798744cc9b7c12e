#!/usr/bin/env bash
# Reproduce the reference results on an NVIDIA GPU host:
#   bash results/reference/run_reference.sh [WORKLOAD...]
# For each workload: torch on CUDA in fp32 and fp16 with the NVML meter, then onnxruntime on
# the host CPU (meter auto: RAPL where readable, else the CodeCarbon estimate, said so).
# An nvidia-smi power log runs beside the GPU runs for the cross-check
# (python -m ecoscore.runners.crosscheck RECORD LOG); the log is appended to, so a second
# invocation adds a second logging session to the same file.
# The committed records of 2026-11-23 (results/reference/README.md, "Every run attempt"):
# the six GPU records match this script's commands; the three CPU records were made with
# --repeats 3 (CPU_REPEATS=3 here) and another note, not with this script's defaults.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT_DIR=${OUT_DIR:-results/reference}
LOG=${SMI_LOG:-$OUT_DIR/nvidia-smi-power.log}
CPU_REPEATS=${CPU_REPEATS:-5}
GPU_RUNS=${GPU_RUNS:-1}
CPU_RUNS=${CPU_RUNS:-1}
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(vision-digits nlp-intent anomaly-machine)
mkdir -p "$OUT_DIR"
if [ "$GPU_RUNS" = 1 ]; then
nvidia-smi --query-gpu=timestamp,power.draw.instant --format=csv,noheader,nounits \
    -lms 20 -i 0 >> "$LOG" &
smi=$!
trap 'kill $smi 2>/dev/null || true' EXIT
for wl in "${workloads[@]}"; do
    for precision in fp32 fp16; do
        python3 -m ecoscore run --workload "$wl" --engine torch --device cuda:0 \
            --precision "$precision" --meter nvml --out "$OUT_DIR" \
            --notes "reference result, torch CUDA $precision"
    done
done
kill $smi 2>/dev/null || true
fi
[ "$CPU_RUNS" = 1 ] || exit 0
for wl in "${workloads[@]}"; do
    python3 -m ecoscore run --workload "$wl" --engine onnxruntime --device cpu --meter auto \
        --repeats "$CPU_REPEATS" --out "$OUT_DIR" --notes "reference result, onnxruntime CPU"
done
