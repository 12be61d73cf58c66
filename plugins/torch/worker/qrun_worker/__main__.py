"""`python -m qrun_worker`: serve JSON-line requests on stdin (see protocol.py)."""
import os
import sys

# Deterministic cuBLAS (https://docs.nvidia.com/cuda/cublas/#results-reproducibility); it must be
# set before CUDA initialises, so before torch is imported by any method.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

from .protocol import Channel, protocol_stdout, serve  # noqa: E402


def main() -> int:
    out = protocol_stdout()
    from .methods import dispatch

    failures = serve(sys.stdin, Channel(out), dispatch)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
