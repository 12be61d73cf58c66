#!/usr/bin/env bash
# Device job g1-gpt (issue 15 items 1 and 5): train models/gpt-debian (a 4-layer GPT-2-style model,
# byte-level BPE 4096, fp16 safetensors ~8.5 MB) on the Debian-text corpus of q2-hardbert, write its
# float32 PyTorch reference (reference.json), and make the tiny decoder fixtures
# (tests/fixtures/decoders/{gpt2,llama,qwen2}-tiny) in parallel on the CPU.
# Run from the repo root: bash scripts/device/jobs/g1-gpt/run.sh "$JOB_OUT"
# The job is killed at 7 minutes: train_gpt.py keeps its own deadlines counted from JOB_T0 and
# writes its outputs as it makes them (data/, model/, metrics.json).
set -uo pipefail
OUT="${1:?usage: run.sh JOB_OUT}"
JOB_T0="$(date +%s.%N)"
export JOB_T0 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4 RAYON_NUM_THREADS=6 TOKENIZERS_PARALLELISM=true
# no network there: never ask the hub; no progress bars in the log
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_VERBOSITY=warning
mkdir -p "$OUT"
nvidia-smi -L 2>/dev/null || true
# fixtures: CPU only, a few seconds, in the background so that a training failure cannot lose them
OMP_NUM_THREADS=2 python3 scripts/make-gpt-model/decoder_fixtures.py --out "$OUT/decoders" > "$OUT/fixtures-log.txt" 2>&1 &
FIX_PID=$!
python3 scripts/make-gpt-model/train_gpt.py \
  --corpus scripts/device/jobs/q2-hardbert/data/corpus.jsonl.xz --out "$OUT" 2>&1 | tee "$OUT/train-log.txt"
rc=${PIPESTATUS[0]}
wait "$FIX_PID"; frc=$?
cat "$OUT/fixtures-log.txt"
( cd "$OUT" && find . -type f -printf '%10s %p\n' | sort -k2 ) || true
echo "exit train $rc fixtures $frc"
exit $rc
