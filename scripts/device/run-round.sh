#!/usr/bin/env bash
# On the GPU machine: runs several helpers' device jobs in one call (the session's device time is
# 30 minutes, and every call that finds no warm machine spends a minute or more starting one).
#   scripts/device/run-round.sh [--node] job1 job2 …
# Each job is scripts/device/jobs/<job>/run.sh, run from the repo root as `run.sh "$JOB_OUT"`.
# Jobs run in parallel, sharing the GPU, on cores 2–15 (OMP_NUM_THREADS=4), except jobs whose name
# starts with "s1-" (CPU timings), which get cores 0 and 1 to themselves. Each is killed after
# JOB_LIMIT seconds (420 by default). What a job writes to $JOB_OUT comes back as $OUT/<job>.tar,
# split into 15 MiB parts when larger (the device tool returns at most 8 files of 16 MiB).
# --node unpacks the carried .device (scripts/device/pack-node.sh) first, for jobs that run qrun.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/round-out}
mkdir -p "$OUT"
LIMIT=${JOB_LIMIT:-420}
t0=$(date +%s)
stamp() { echo "--- [$(( $(date +%s) - t0 ))s] $*"; }
exec > >(tee -a "$OUT/round.log") 2>&1
if [ "${1:-}" = --node ]; then
  shift
  stamp "unpacking node"
  scripts/device/unpack-node.sh || echo "node unpack FAILED"
fi
stamp "machine"
nvidia-smi -L
nproc
python3 -c 'import torch, transformers, onnx, onnxruntime; print("torch", torch.__version__, "transformers", transformers.__version__, "onnx", onnx.__version__, "onnxruntime", onnxruntime.__version__, "cuda", torch.cuda.is_available())'
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=4 MKL_NUM_THREADS=4 TOKENIZERS_PARALLELISM=false
pids=()
for job in "$@"; do
  dir=/tmp/jobs/$job
  mkdir -p "$dir"
  if [[ $job == s1-* ]]; then cores=0,1; else cores=2-15; fi
  stamp "start $job on cores $cores"
  ( start=$(date +%s)
    timeout -k 10 "$LIMIT" taskset -c "$cores" bash "scripts/device/jobs/$job/run.sh" "$dir" >"$dir/log.txt" 2>&1
    rc=$?
    echo "exit $rc after $(( $(date +%s) - start ))s" >>"$dir/log.txt"
    echo "$rc" >"$dir/exit-code" ) &
  pids+=($!)
done
wait "${pids[@]}"
for job in "$@"; do
  dir=/tmp/jobs/$job
  stamp "$job: exit $(cat "$dir/exit-code" 2>/dev/null); $(du -sh "$dir" | cut -f1); tail of log:"
  tail -n 15 "$dir/log.txt"
  tar -C "$dir" -cf "$OUT/$job.tar" .
  size=$(stat -c %s "$OUT/$job.tar")
  if [ "$size" -gt 15728640 ]; then
    split -b 15M -d "$OUT/$job.tar" "$OUT/$job.tar.part"
    rm "$OUT/$job.tar"
  fi
done
ls -la "$OUT"
stamp "round done"
