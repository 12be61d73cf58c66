#!/usr/bin/env bash
# Device job t3-ner (issue #13, token classification), run from the repository root:
#   bash scripts/device/jobs/t3-ner/run.sh "$JOB_OUT"
# 1. src/export/fixtures/make_token_fixtures.py: tiny random Bert/Roberta/DistilBertForTokenClassification
#    checkpoints with PyTorch reference logits (→ $JOB_OUT/fixtures/<case>/), for src/export/families.test.ts.
# 2. scripts/make-ner-model/train_ner.py: trains models/bert-ner from scripts/make-ner-model/corpus
#    (extract_ner.py's output, committed) on the GPU and writes the model, reference fixtures and
#    metrics (→ $JOB_OUT/stage/{models,tests,metrics.json}).
# Needs Python 3 with torch, transformers and tokenizers; no network. About 5 minutes on one (shared) H200.
set -u -o pipefail
OUT="${1:?usage: run.sh JOB_OUT}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4 CUBLAS_WORKSPACE_CONFIG=:4096:8
ts() { date -u +%H:%M:%S; }
echo "$(ts) t3-ner start; $(nvidia-smi -L 2>/dev/null | head -1)"
python3 -c 'import torch, transformers, tokenizers; print("torch", torch.__version__, "transformers", transformers.__version__, "tokenizers", tokenizers.__version__, "cuda", torch.cuda.is_available())'

# Round 1 (18:07 UTC) made the fixtures (committed in src/export/fixtures/); set T3_FIXTURES=1 to make them again.
if [ "${T3_FIXTURES:-0}" = 1 ]; then
  echo "$(ts) fixtures"
  timeout 100 python3 src/export/fixtures/make_token_fixtures.py "$OUT/fixtures" || echo "$(ts) fixtures FAILED rc=$?"
fi

echo "$(ts) train"
timeout 370 python3 scripts/make-ner-model/train_ner.py --out "$OUT/stage" --budget-s 220 || echo "$(ts) train FAILED rc=$?"

echo "$(ts) outputs"
find "$OUT" -type f -printf '%10s %P\n' | sort -k2
du -sh "$OUT"
echo "$(ts) t3-ner end"
