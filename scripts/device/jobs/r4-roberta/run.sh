#!/usr/bin/env bash
# Device job r4-roberta (issue 17): MLM-pretrain and fine-tune roberta6-hard, the second hard
# validation model (RoBERTa architecture, byte-level BPE, another seed than bert6-hard), on the
# Debian-text corpus of q2-hardbert (scripts/make-hard-bert/extract_corpus.py made it).
# Run from the repo root: bash scripts/device/jobs/r4-roberta/run.sh "$JOB_OUT"
# The job is killed at JOB_LIMIT (430 s in the call that made the model): train_roberta.py keeps its
# own deadlines counted from JOB_T0 and writes its outputs as it makes them (model/, eval.jsonl,
# calib.jsonl, reference.json, outliers.json, metrics.json). Its ONNX checks stay on the device.
set -uo pipefail
OUT="${1:?usage: run.sh JOB_OUT}"
JOB_T0="$(date +%s.%N)"
export JOB_T0 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4 RAYON_NUM_THREADS=6 TOKENIZERS_PARALLELISM=true
export CUBLAS_WORKSPACE_CONFIG=:4096:8
nvidia-smi -L 2>/dev/null || true
python3 scripts/make-hard-bert/train_roberta.py --corpus scripts/device/jobs/q2-hardbert/data/corpus.jsonl.xz --out "$OUT"
rc=$?
( cd "$OUT" && find . -type f -printf '%10s %p\n' | sort -k2 ) || true
echo "exit $rc"
exit $rc
