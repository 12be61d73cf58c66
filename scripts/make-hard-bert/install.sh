#!/usr/bin/env bash
# Installs what the q2-hardbert device job returned into the repository layout:
#   model/*          -> models/bert6-hard/   (config.json, model.safetensors fp16, tokenizer files)
#   eval.jsonl, calib.jsonl -> data/bert6-hard/
#   reference.json   -> tests/fixtures/bert6-hard/reference.json
#   log.txt, metrics.json, outliers.json, anchors.json -> scripts/make-hard-bert/ (train-log.txt, …)
# Usage: bash scripts/make-hard-bert/install.sh [RESULTS_DIR]   (default .device-results/q2-hardbert)
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC="${1:-.device-results/q2-hardbert}"
test -f "$SRC/model/model.safetensors" || { echo "no model in $SRC" >&2; exit 1; }
mkdir -p models/bert6-hard data/bert6-hard tests/fixtures/bert6-hard
for f in config.json model.safetensors tokenizer.json tokenizer_config.json vocab.txt special_tokens_map.json; do
  if [ -f "$SRC/model/$f" ]; then cp "$SRC/model/$f" models/bert6-hard/; fi
done
# No file in the repository over 20 MiB: the 27.9 MB checkpoint goes in as transformers' shards.
python3 scripts/make-hard-bert/shard.py models/bert6-hard
cp "$SRC/eval.jsonl" "$SRC/calib.jsonl" data/bert6-hard/
cp "$SRC/reference.json" tests/fixtures/bert6-hard/reference.json
cp "$SRC/log.txt" scripts/make-hard-bert/train-log.txt
for f in metrics.json outliers.json anchors.json; do
  if [ -f "$SRC/$f" ]; then cp "$SRC/$f" "scripts/make-hard-bert/$f"; fi
done
ls -la models/bert6-hard data/bert6-hard tests/fixtures/bert6-hard
