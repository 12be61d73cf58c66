"""Prints one JSON line describing this Python: its version and those of the packages the worker
needs. The TS side runs it before anything else to tell "no Python", "Python too old" and
"Python without torch" apart, and puts the versions into the steps' cache keys.

Kept free of newer syntax so that an old Python still gets as far as reporting its version.
"""
import json
import sys


def _version_of(name):
    try:
        module = __import__(name)
    except Exception as e:  # ImportError, or a broken install raising something else
        return {"error": "%s: %s" % (type(e).__name__, e)}
    return {"version": str(getattr(module, "__version__", "unknown"))}


def probe(with_cuda=True):
    info = {
        "python": "%d.%d.%d" % sys.version_info[:3],
        "executable": sys.executable,
        "packages": {},
    }
    for name in ("torch", "transformers", "safetensors", "numpy", "onnx", "onnxruntime"):
        info["packages"][name] = _version_of(name)
    torch_info = info["packages"]["torch"]
    if with_cuda and "version" in torch_info:
        try:
            import torch

            if torch.cuda.is_available():
                torch_info["cuda"] = torch.version.cuda
                torch_info["device"] = torch.cuda.get_device_name(0)
        except Exception as e:
            torch_info["cudaError"] = "%s: %s" % (type(e).__name__, e)
    return info


if __name__ == "__main__":
    sys.stdout.write(json.dumps(probe(with_cuda="--no-cuda" not in sys.argv), sort_keys=True) + "\n")
