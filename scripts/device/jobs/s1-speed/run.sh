#!/usr/bin/env bash
# s1-speed (issue 14), on the GPU machine's Xeon restricted to 2 cores (taskset -c 0,1):
#  1. qrun's start-up (bundle vs tsx) and the BERT-base quantize pipeline (load → save) in one process;
#  2. the int8 forms of that FP32 graph (bench/cpu-forms.ts: TensorRT form, cpu profile with and
#     without Q/K/V fused, qrun mode: dynamic) and Python onnxruntime's own quantize_dynamic
#     (per-channel, QInt8) of the same graph: node-for-node comparison of the two dynamic forms,
#     then every model timed interleaved in one process, 2 intra-op threads, against FP32 and against
#     onnxruntime's quantize_dynamic (the anchor), with intervals.
# Run: bash scripts/device/jobs/s1-speed/run.sh OUT_DIR   (7 minutes at most; results written as they come)
set -uo pipefail
OUT="${1:?usage: run.sh OUT_DIR}"
cd "$(dirname "$0")/../../../.."
export PYTHONUNBUFFERED=1
t0=$(date +%s)
log() { echo "[$(date -u +%H:%M:%S) +$(($(date +%s) - t0))s] $*"; }
JOB=scripts/device/jobs/s1-speed
log "unpacking node"
scripts/device/unpack-node.sh || { log "no Node: .device/ was not carried"; exit 1; }
export PATH=/tmp/qrun-node/bin:$PATH
{ lscpu; grep -m1 '^flags' /proc/cpuinfo; } >"$OUT/cpu.txt" 2>&1
grep -m1 'model name' /proc/cpuinfo
W=/tmp/s1-speed
rm -rf "$W" && mkdir -p "$W"
log "start-up and pipeline"
taskset -c 0,1 python3 "$JOB/pipeline.py" "$W" "$OUT" 2>&1 | tee "$OUT/pipeline.txt"
FP32=$(cat "$W/fp32.path") STATS=$(cat "$W/stats.path")
log "building the int8 forms"
taskset -c 0,1 node --import tsx bench/cpu-forms.ts "$FP32" "$STATS" "$W/forms" 2>&1 | tee "$OUT/forms.txt"
cp "$FP32" "$W/forms/fp32.onnx"
log "quantize_dynamic, comparison, timings"
taskset -c 0,1 python3 "$JOB/time_forms.py" "$W/forms" "$OUT" 2>&1 | tee "$OUT/timings.txt"
log "done"
