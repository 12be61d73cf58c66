#!/usr/bin/env bash
# On the GPU machine (Python 3.12, torch, transformers, onnx, onnxruntime; no Node): the torch
# worker's own tests, then `qrun recipes/bert-int8.yaml` (the ONNX PTQ path) and
# `qrun recipes/bert-int8-qat.yaml` (the torch QAT path) on the shipped model, with their numbers.
# From this machine, after scripts/device/pack-node.sh, with the device `run` tool:
#   run(command="scripts/device/run-qat.sh", carry=[".device"])
# Everything goes to $OUT/log.txt; the reports and a few files come back under $OUT.
# SWEEP=1 also runs variants of the QAT recipe (no QAT, other learning rate/epochs, entropy).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/qrun-device-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
export CI=true PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
CACHE=/tmp/qrun-cache
t0=$(date +%s)
stamp() { echo "--- [$(( $(date +%s) - t0 ))s] $*"; }

stamp "machine"
nvidia-smi -L
python3 -c 'import sys, torch, transformers, onnx, onnxruntime; print(sys.executable, sys.version.split()[0], "torch", torch.__version__, "transformers", transformers.__version__, "onnx", onnx.__version__, "onnxruntime", onnxruntime.__version__, "cuda", torch.cuda.is_available())'
scripts/device/unpack-node.sh || exit 1
export PATH=/tmp/qrun-node/bin:$PATH

stamp "where the attention matmuls are in this transformers (what quantize-matmul rewrites)"
python3 - <<'PY' | tee "$OUT/modeling_bert_attention.txt"
import inspect
from transformers.models.bert import modeling_bert as m
src = inspect.getsource(m).splitlines()
for i, line in enumerate(src, 1):
    if any(k in line for k in ("matmul", " @ ", "def eager_attention_forward", "attention_interface", "nn.Linear(", "_attn_implementation", "cumsum")):
        print(f"{i:5d}: {line}")
PY

stamp "qrun recipes/bert-int8.yaml (ONNX PTQ path)"
node bin/qrun.js recipes/bert-int8.yaml --cache $CACHE
echo "qrun exit: $?"
python3 scripts/device/summary.py $CACHE PTQ | tee "$OUT/summary.txt"
cp "$(ls -d $CACHE/runs/* | tail -1)/report.md" "$OUT/ptq-report.md"

stamp "qrun recipes/bert-int8-qat.yaml (torch QAT path)"
node bin/qrun.js recipes/bert-int8-qat.yaml --cache $CACHE
echo "qrun exit: $?"
python3 scripts/device/summary.py $CACHE QAT | tee -a "$OUT/summary.txt"
run=$(ls -d $CACHE/runs/* | tail -1)
cp "$run/report.md" "$OUT/qat-report.md"; cp "$run/report.json" "$OUT/qat-report.json"
find $CACHE/cache -path '*/patched/modeling_bert.py' | head -1 | xargs -r -I{} cp {} "$OUT/patched_modeling_bert.py"

stamp "qrun recipes/bert-int8-qat.yaml again (every step from the cache)"
node bin/qrun.js recipes/bert-int8-qat.yaml --cache $CACHE | tail -4

stamp "worker tests (pytest)"
(cd plugins/torch/worker && python3 -m pytest -q -p no:cacheprovider -rs tests)
echo "pytest exit: $?"

if [ "${SWEEP:-0}" = 1 ]; then
  python3 - <<'PY'
import re
base = open("recipes/bert-int8-qat.yaml").read()
no_qat = re.sub(r"\n  - id: qat\n.*?(?=\n  - id: export)", "", base, flags=re.S)
variants = {
    "ptq-only": no_qat,
    "lr5e-5-e3": base.replace("learningRate: 2.0e-5", "learningRate: 5.0e-5").replace("epochs: 2", "epochs: 3"),
    "entropy": base.replace("method: percentile\n      percentile: 99.99", "method: entropy"),
}
for name, text in variants.items():
    # Accuracy is what the variants are for: a short latency pass.
    open(f"recipes/.device-{name}.yaml", "w").write(text.replace("warmup: 10", "warmup: 2").replace("iterations: 40", "iterations: 5"))
PY
  for v in ptq-only lr5e-5-e3 entropy; do
    stamp "variant $v"
    node bin/qrun.js recipes/.device-$v.yaml --cache $CACHE >/dev/null
    python3 scripts/device/summary.py $CACHE "$v" | tee -a "$OUT/summary.txt" | grep -E "RESULT|torch.qat|torch.calibrate|error"
  done
fi

stamp "failure logs of the torch worker, if any"
cat /tmp/qrun-torch-logs/*.log 2>/dev/null | tail -200
stamp "done"
