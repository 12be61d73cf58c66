#!/usr/bin/env bash
# Device job q3-cnn (issue 17 items 5 and 6): build the zoo CNN tests/fixtures/zoo/fpn, quantize it
# with the torch worker's module swap (PTQ and QAT), and run the worker's Python tests where torch is.
#   bash scripts/device/jobs/q3-cnn/run.sh "$JOB_OUT"
# Writes to $JOB_OUT: zoo-fpn.tar (the zoo folder), summary-entry.json, qat.json (PTQ vs QAT numbers),
# {ptq-percentile,ptq-max,qat}-qdq.onnx, worker-tests.txt, nvidia-smi.txt.
set -u
OUT="${1:?usage: run.sh JOB_OUT}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4 CUBLAS_WORKSPACE_CONFIG=:4096:8
ts() { date -u +%H:%M:%S; }
echo "[$(ts)] q3-cnn start"
nvidia-smi -L > "$OUT/nvidia-smi.txt" 2>&1 || true

# The worker's tests (module swap included) in the background, bounded, on 2 threads.
( cd plugins/torch/worker && OMP_NUM_THREADS=2 timeout 300 python3 -m unittest discover -s tests -t . -v \
    > "$OUT/worker-tests.txt" 2>&1; echo "exit $?" >> "$OUT/worker-tests.txt" ) &
tests_pid=$!

timeout 330 python3 scripts/make-zoo/make_cnn.py --out /tmp/q3-zoo --results "$OUT" --time-budget 240
echo "[$(ts)] make_cnn.py exit $?"

wait "$tests_pid"
echo "[$(ts)] worker tests:"
grep -E "^(Ran|OK|FAILED|exit)|module_swap|ModuleSwap" "$OUT/worker-tests.txt" | tail -40
tail -5 "$OUT/worker-tests.txt"
ls -la "$OUT"
echo "[$(ts)] q3-cnn done"
