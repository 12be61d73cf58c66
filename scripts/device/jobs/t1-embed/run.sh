#!/usr/bin/env bash
# Device job t1-embed (issue #13, sentence embeddings), run from the repository root:
#   bash scripts/device/jobs/t1-embed/run.sh "$JOB_OUT"
# 1. make_st_fixtures.py: tiny random sentence-transformers models of each family (mean / CLS / max
#    pooling, with and without Normalize, and a bare BertModel) with sentence-transformers'
#    embeddings → $JOB_OUT/fixtures/<case>/ (for src/tasks/embedding/export.test.ts).
# 2. scripts/make-embed-model/train_embed.py: trains models/embed-gettext on the GPU from
#    groups-train.jsonl.gz (scripts/make-embed-model/extract_pairs.py's output, beside this file)
#    → $JOB_OUT/embed/{model/,reference.json,metrics.json}.
# Needs Python 3 with torch, transformers, tokenizers and sentence-transformers; no network.
# About 4-5 minutes on one H200.
set -u -o pipefail
OUT="${1:?usage: run.sh JOB_OUT}"
mkdir -p "$OUT"
HERE=scripts/device/jobs/t1-embed
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4 TOKENIZERS_PARALLELISM=true HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
ts() { date -u +%H:%M:%S; }
echo "$(ts) t1-embed start; $(nvidia-smi -L 2>/dev/null | head -1)"
python3 -c 'import torch, transformers, tokenizers, sentence_transformers as st; print("torch", torch.__version__, "transformers", transformers.__version__, "tokenizers", tokenizers.__version__, "sentence-transformers", st.__version__, "cuda", torch.cuda.is_available())'

echo "$(ts) fixtures"
timeout 100 python3 "$HERE/make_st_fixtures.py" "$OUT/fixtures" || echo "$(ts) fixtures FAILED rc=$?"

echo "$(ts) train"
timeout 290 python3 scripts/make-embed-model/train_embed.py --groups "$HERE/groups-train.jsonl.gz" --eval data/embed/eval.jsonl --out "$OUT/embed" --budget-s 170 || echo "$(ts) train FAILED rc=$?"

echo "$(ts) outputs"
find "$OUT" -type f -printf '%10s %P\n' | sort -k2
du -sh "$OUT"
echo "$(ts) t1-embed end"
