"""The `torch-state` artifact: a folder that one torch.* step writes and the next one reads.

    hf/                        the Hugging Face model (config.json, model.safetensors): its weights
    state.json                 what was done to it: architecture, modeling module, AST rules and
                               exclusions, calibration, QAT (each step adds its part)
    quant_state.safetensors    amax of every enabled quantizer (after torch.calibrate)
    patched/<module>.py        the patched modeling source, for reading (after torch.patch)

Everything is written deterministically (sorted JSON, a fixed safetensors layout), because the
engine hashes outputs and two runs of the same recipe give byte-identical artifacts.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
from typing import Any

import numpy as np

STATE_FILE = "state.json"
HF_DIR = "hf"
QUANT_FILE = "quant_state.safetensors"
PATCHED_DIR = "patched"
FORMAT = 1


def read_state(state_dir: str) -> dict[str, Any]:
    path = os.path.join(state_dir, STATE_FILE)
    with open(path, encoding="utf-8") as f:
        state = json.load(f)
    if state.get("format") != FORMAT:
        raise ValueError(f"{path}: torch-state format {state.get('format')} is not {FORMAT}")
    return state


def write_state(out_dir: str, state: dict[str, Any]) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, STATE_FILE), "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(state, sort_keys=True, indent=1, allow_nan=False) + "\n")


def copy_tree(src_state: str, out_dir: str, *names: str) -> None:
    """Copies files or folders of a state into the new one, byte for byte."""
    for name in names:
        src = os.path.join(src_state, name)
        dst = os.path.join(out_dir, name)
        if os.path.isdir(src):
            shutil.copytree(src, dst)
        elif os.path.exists(src):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)


# safetensors (https://github.com/huggingface/safetensors#format): u64 little-endian header length,
# a JSON header, then the raw little-endian data. Written here for float32 only, so that the quant
# state needs no package and its bytes depend on nothing but the values.


def save_f32_tensors(path: str, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in sorted(metadata.items())}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        data = np.array(tensors[name], dtype="<f4", order="C")  # (ascontiguousarray would make scalars 1-D)
        raw = data.tobytes()
        header[name] = {"dtype": "F32", "shape": list(data.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def load_f32_tensors(path: str) -> dict[str, np.ndarray]:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {info['dtype']}, expected F32")
        lo, hi = info["data_offsets"]
        out[name] = np.frombuffer(body[lo:hi], dtype="<f4").reshape(info["shape"]).copy()
    return out
