#!/usr/bin/env python3
"""The zoo's 64 calibration and 500 held-out shape images (make_zoo.py's generator and seeds; numpy
only) as .tensors.jsonl files, for measuring qrun's PTQ and the module-swap QAT export of the zoo
CNN on more images than shapes-small.jsonl holds (docs/quantization.md, "Convolution networks").

  python3 scripts/make-zoo/cnn_heldout.py /tmp/cnn-data   # writes calib.tensors.jsonl, heldout.tensors.jsonl
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_zoo as Z  # noqa: E402


def write(path, x, y):
    with open(path, "w") as f:
        for i in range(len(y)):
            f.write(json.dumps({"pixel_values": Z.r3(x[i]), "label": Z.SHAPES[int(y[i])]}, separators=(",", ":")) + "\n")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "calib.tensors.jsonl"), *Z.make_images(64, Z.SEED + 11, balanced=True))
    write(os.path.join(out, "heldout.tensors.jsonl"), *Z.make_images(Z.N_HELDOUT, Z.SEED + 12, balanced=True))


if __name__ == "__main__":
    main()
