#!/usr/bin/env bash
# s1-speed (issue 14) on the GPU machine's Xeon restricted to 2 cores (taskset -c 0,1); no Node
# there. forms.tar.xz holds the int8 forms of qrun's BERT-base graph without their weights, made on
# the development machine by
#   npx tsx bench/cpu-forms.ts --graphs-only FP32.onnx calibration.json forms   (then tar + xz)
# from `npm run bench`'s pipeline: FP32, qrun's TensorRT form (defaults), target: cpu (with Q/K/V
# fused, without, with attention as QAttention) and mode: dynamic. time_forms.py refills the
# weights with random values, runs Python onnxruntime's own quantize_dynamic (per-channel, QInt8) on
# the FP32 graph (the anchor), compares it node for node with qrun's mode: dynamic, and times every
# model in turns in one process, 2 intra-op threads. Start-up and the pipeline are measured on the
# development machine (npm run bench), not here.
# Run: bash scripts/device/jobs/s1-speed/run.sh OUT_DIR   (7 minutes at most; results written as they come)
set -uo pipefail
OUT="${1:?usage: run.sh OUT_DIR}"
cd "$(dirname "$0")/../../../.."
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
t0=$(date +%s)
log() { echo "[$(date -u +%H:%M:%S) +$(($(date +%s) - t0))s] $*"; }
JOB=scripts/device/jobs/s1-speed
{ lscpu; grep -m1 '^flags' /proc/cpuinfo; } >"$OUT/cpu.txt" 2>&1
log "forms: refill, quantize_dynamic, compare, time"
taskset -c 0,1 python3 "$JOB/time_forms.py" "$JOB/forms.tar.xz" "$OUT" 2>&1 | tee "$OUT/timings.txt"
log "done"
