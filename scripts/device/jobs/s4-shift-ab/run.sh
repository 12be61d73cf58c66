#!/usr/bin/env bash
# Device job s4-shift-ab (see ab.py): the activation shift's cost on onnxruntime CPU, Xeon with VNNI/AMX, cores 0-1.
set -uo pipefail
OUT="${1:?usage: run.sh JOB_OUT}"
HERE="$(cd "$(dirname "$0")" && pwd)"
lscpu | grep -E "Model name|Flags" | sed 's/Flags:.*\(avx512_vnni\|amx_int8\).*/Flags: (avx512_vnni, amx present)/' | head -3
python3 "$HERE/ab.py" "$OUT" "$HERE" models/bert-langid/onnx/model.onnx
