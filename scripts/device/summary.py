#!/usr/bin/env python3
"""Prints the numbers of the newest qrun run in a cache folder: every step's status and time, the
torch steps' key metrics, and bench's accuracy table (agreement with FP32, label accuracy).

    python3 scripts/device/summary.py CACHE_DIR [LABEL]
"""
import json
import os
import sys

KEYS = {
    "torch.patch": ["linearQuantizers", "matmulQuantizers", "rules"],
    "torch.calibrate": ["method", "samples", "activationQuantizers", "meanClippedRange", "calibrationAgreement", "device"],
    "torch.qat": ["epochs", "steps", "epochLoss", "checkAgreementBefore", "checkAgreementAfter", "checkAccuracyBefore", "checkAccuracyAfter", "trainSeconds", "device"],
    "torch.export": ["opset", "quantizedNodes", "weightTensors", "scalesMatchAmax", "ortArgmaxAgreement", "ortMaxAbsDiff", "bytes"],
    "bench": ["agreement", "fp32Accuracy", "int8Accuracy", "accuracyDrop", "meanCosine", "speedup", "sizeRatio"],
}


def main():
    cache, label = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
    runs = sorted(os.listdir(os.path.join(cache, "runs")))
    path = os.path.join(cache, "runs", runs[-1], "report.json")
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    print(f"== {label} {report.get('recipe', {}).get('file', '')} ({path})")
    for s in report["steps"]:
        line = f"  {s['id']:<10} {s.get('plugin', s.get('uses', '')):<16} {s['status']:<8} {s.get('durationMs', 0) / 1000:7.1f}s"
        keys = KEYS.get(s.get("plugin") or s.get("uses"), [])
        shown = {k: s.get("metrics", {}).get(k) for k in keys if k in s.get("metrics", {})}
        print(line + (f"  {json.dumps(shown)}" if shown else ""))
        if s.get("error"):
            print(f"     error: {s['error']}")
    bench = next((s for s in report["steps"] if s["id"] == "bench"), None)
    if bench and bench.get("metrics"):
        m = bench["metrics"]
        print(f"  RESULT {label}: agreement {m['agreement']:.4f}, INT8 accuracy {m['int8Accuracy']:.4f}, FP32 accuracy {m['fp32Accuracy']:.4f}")


if __name__ == "__main__":
    main()
