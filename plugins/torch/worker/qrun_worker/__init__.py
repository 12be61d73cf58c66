"""qrun's torch worker: the Python side of the torch.* steps (see plugins/torch/README.md).

Started by the TypeScript plugins as `python -m qrun_worker`, one process per step; it speaks JSON
lines on stdin/stdout (qrun_worker.protocol). Modules that import torch do so lazily, so the pure
parts (AST rules, calibrators, the protocol) run and are tested without it.
"""

# Bumped when the worker's outputs change for the same inputs; the TS plugins put it in their version.
WORKER_VERSION = "2"  # 2: entropy calibration counts bin 0 like bin 1 (calibrators.py)
