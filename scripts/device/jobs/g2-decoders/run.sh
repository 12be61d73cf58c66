#!/usr/bin/env bash
# Device job g2-decoders (issue 15 item 1): PyTorch reference fixtures for the decoder options that
# tests/fixtures/decoders/{gpt2,llama,qwen2}-tiny leave out (untied GPT-2 with exact gelu and no
# attention scaling, Llama biases and head_dim, llama3 and linear RoPE, Mistral's sliding window),
# and the exported graphs through the onnx checker, the ONNX reference evaluator and onnxruntime's
# Python API (check_onnx.py). CPU only, under a minute. Run from the repo root: bash scripts/device/jobs/g2-decoders/run.sh "$JOB_OUT"
set -uo pipefail
OUT="${1:?usage: run.sh JOB_OUT}"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=2
mkdir -p "$OUT"
python3 scripts/device/jobs/g2-decoders/make_fixtures.py --out "$OUT/decoders" 2>&1 | tee "$OUT/log.txt"
rc=${PIPESTATUS[0]}
# The native graphs of tests/fixtures/decoders (onnx/, written here by export-inputs.mts) through the
# onnx checker, the ONNX reference evaluator and onnxruntime's Python API.
python3 scripts/device/jobs/g2-decoders/check_onnx.py scripts/device/jobs/g2-decoders/onnx "$OUT/check-onnx.json" 2>&1 | tee "$OUT/check-onnx-log.txt"
crc=${PIPESTATUS[0]}
echo "exit fixtures $rc check_onnx $crc"
[ "$rc" -eq 0 ] && rc=$crc
( cd "$OUT" && find . -type f -printf '%10s %p\n' | sort -k2 ) || true
echo "exit $rc"
exit $rc
