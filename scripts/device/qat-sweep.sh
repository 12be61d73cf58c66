#!/usr/bin/env bash
# On the GPU machine: the ONNX PTQ recipe and a few QAT settings of recipes/bert-int8-qat.yaml on the
# same machine, to pick QAT settings that keep agreement and accuracy at least at the PTQ path's.
#   run(command="scripts/device/qat-sweep.sh", carry=[".device"])   (after scripts/device/pack-node.sh)
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/qrun-device-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/sweep.txt") 2>&1
export CI=true PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
CACHE=/tmp/qrun-sweep-cache
scripts/device/unpack-node.sh || exit 1
export PATH=/tmp/qrun-node/bin:$PATH
short() { sed -e 's/warmup: 10/warmup: 2/' -e 's/iterations: 40/iterations: 5/' "$1"; }
short recipes/bert-int8.yaml > recipes/.sweep-ptq.yaml
node bin/qrun.js recipes/.sweep-ptq.yaml --cache $CACHE > /dev/null; echo "ptq exit $?"
python3 scripts/device/summary.py $CACHE ptq | grep -E "RESULT|error"
for v in "1.0e-5 1 2" "1.0e-5 2 2" "2.0e-5 1 2" "2.0e-5 2 1" "5.0e-6 2 2"; do
  set -- $v
  name="lr$1-e$2-t$3"
  short recipes/bert-int8-qat.yaml | sed -e "s/learningRate: 2.0e-5/learningRate: $1/" -e "s/epochs: 2/epochs: $2/" -e "s/temperature: 2/temperature: $3/" > recipes/.sweep-$name.yaml
  node bin/qrun.js recipes/.sweep-$name.yaml --cache $CACHE > /dev/null; echo "$name exit $?"
  python3 scripts/device/summary.py $CACHE "$name" | grep -E "RESULT|error"
done
