#!/usr/bin/env bash
# On the GPU machine: which evaluation samples do the PTQ and QAT INT8 models decide differently from
# FP32, and who is right there? Runs both recipes, then compares per-sample predictions in onnxruntime.
#   run(command="scripts/device/qat-disagreement.sh", carry=[".device"])
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/qrun-device-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/disagreement.txt") 2>&1
export CI=true PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
CACHE=/tmp/qrun-dis-cache
scripts/device/unpack-node.sh >/dev/null || exit 1
export PATH=/tmp/qrun-node/bin:$PATH
for r in bert-int8 bert-int8-qat; do
  sed -e 's/warmup: 10/warmup: 1/' -e 's/iterations: 40/iterations: 2/' recipes/$r.yaml > recipes/.dis-$r.yaml
  node bin/qrun.js recipes/.dis-$r.yaml --cache $CACHE --until save > /dev/null; echo "$r exit $?"
done
python3 - "$CACHE" <<'PY'
import json, os, sys
import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
cache = sys.argv[1]
def model_of(recipe, step):
    for run in sorted(os.listdir(f"{cache}/runs"), reverse=True):
        rep = json.load(open(f"{cache}/runs/{run}/report.json"))
        if rep["recipe"]["file"].endswith(recipe):
            s = next(x for x in rep["steps"] if x["id"] == step)
            return f"{cache}/cache/" + s["outputs"]["model"]["path"]
fp32 = model_of(".dis-bert-int8.yaml", "patch")
ptq = model_of(".dis-bert-int8.yaml", "save")
qat = model_of(".dis-bert-int8-qat.yaml", "save")
tok = Tokenizer.from_file("models/bert-langid/tokenizer.json")
id2label = json.load(open("models/bert-langid/config.json"))["id2label"]
rows = [json.loads(l) for l in open("data/langid/eval.jsonl")]
def predict(path):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in s.get_inputs()]
    out = []
    for r in rows:
        ids = np.array([tok.encode(r["text"]).ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        out.append(int(s.run(None, {k: feed[k] for k in names})[0].argmax()))
    return out
p = {name: predict(path) for name, path in (("fp32", fp32), ("ptq", ptq), ("qat", qat))}
for name in ("ptq", "qat"):
    agree = sum(a == b for a, b in zip(p["fp32"], p[name])) / len(rows)
    acc = sum(id2label[str(x)] == r["label"] for x, r in zip(p[name], rows)) / len(rows)
    print(f"{name}: agreement {agree:.4f} accuracy {acc:.4f}")
print(f"fp32: accuracy {sum(id2label[str(x)] == r['label'] for x, r in zip(p['fp32'], rows)) / len(rows):.4f}")
for i, r in enumerate(rows):
    if len({p['fp32'][i], p['ptq'][i], p['qat'][i]}) > 1:
        print(f"sample {i}: label {r['label']} fp32 {id2label[str(p['fp32'][i])]} ptq {id2label[str(p['ptq'][i])]} qat {id2label[str(p['qat'][i])]} text {r['text'][:80]!r}")
PY
