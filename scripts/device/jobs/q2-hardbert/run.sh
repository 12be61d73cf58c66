#!/usr/bin/env bash
# Device job q2-hardbert (issue 17 item 4): MLM-pretrain and fine-tune models/bert6-hard from the
# Debian-text corpus in data/corpus.jsonl.xz (made by scripts/make-hard-bert/extract_corpus.py).
# Run from the repo root: bash scripts/device/jobs/q2-hardbert/run.sh "$JOB_OUT"
# The job is killed at 7 minutes: train.py keeps its own deadlines counted from JOB_T0 and writes
# its outputs as it makes them (model/, eval.jsonl, calib.jsonl, reference.json, outliers.json,
# metrics.json, anchors.json).
set -uo pipefail
OUT="${1:?usage: run.sh JOB_OUT}"
JOB_T0="$(date +%s.%N)"
export JOB_T0 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4 RAYON_NUM_THREADS=6 TOKENIZERS_PARALLELISM=true
export CUBLAS_WORKSPACE_CONFIG=:4096:8
HERE="$(cd "$(dirname "$0")" && pwd)"
nvidia-smi -L 2>/dev/null || true
python3 scripts/make-hard-bert/train.py --corpus "$HERE/data/corpus.jsonl.xz" --out "$OUT"
rc=$?
( cd "$OUT" && find . -type f -printf '%10s %p\n' | sort -k2 ) || true
echo "exit $rc"
exit $rc
