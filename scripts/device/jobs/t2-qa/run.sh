#!/usr/bin/env bash
# Device job t2-qa (issue 13, question answering), run from the repo root: run.sh "$JOB_OUT".
# 1. Tiny random *ForQuestionAnswering checkpoints of the five families with PyTorch start/end
#    logits (src/export/fixtures-qa/, for the native exporter's QA head).
# 2. The man-page QA sets from the committed option extraction, then the shipped model
#    models/bert-manqa trained on them (scripts/make-qa-model/train_qa.py), with its reference
#    logits, transformers' pipeline answers and tokenizers' only_second truncation as fixtures.
# 3. Question + context pairs through the Python tokenizers library for the zoo's tokenizers (ids,
#    type ids, offsets, word ids; pairs.json) for the TypeScript pair encoder.
# 4. plugins/triton/python/question_answering.py with the real tokenizers library on the trained
#    model: its answers on 60 evaluation pairs (answers.json; transformers 5.17 has no QA pipeline).
set -uo pipefail
OUT=${1:?usage: run.sh OUTDIR}
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=4 MKL_NUM_THREADS=4 TOKENIZERS_PARALLELISM=false
t0=$(date +%s)
stamp() { echo "--- [$(( $(date +%s) - t0 ))s] $*"; }
stamp "fixtures"
python3 scripts/make-qa-model/make_qa_fixtures.py "$OUT/fixtures-qa" || echo "fixtures FAILED"
stamp "pair fixtures"
python3 scripts/make-qa-model/pair_fixtures.py "$OUT/pairs.json" || echo "pair fixtures FAILED"
stamp "qa sets"
DATA=$(mktemp -d)
python3 scripts/make-qa-model/build_qa.py scripts/make-qa-model/work/options.jsonl.xz "$DATA" --all-kinds-train || echo "build_qa FAILED"
sha256sum "$DATA"/*.jsonl
stamp "train"
python3 scripts/make-qa-model/train_qa.py --data "$DATA" --out "$OUT" --budget 230 || echo "train FAILED"
stamp "triton python model"
python3 scripts/make-qa-model/check_triton_py.py "$OUT/models/bert-manqa" "$DATA/eval.jsonl" "$OUT" || echo "triton python check FAILED"
stamp "done"
ls -laR "$OUT"
