#!/usr/bin/env python3
"""Install roberta6-hard from the device job's output and export it to ONNX with both PyTorch exporters.

The device job r4-roberta (train_roberta.py) returns the fp16 Hugging Face folder, the data and the
small results; its ONNX files stay on the device, because a float32 graph of this model is 56 MB and
the device returns 64 MB in all. This script, run here (CPU torch, transformers, onnx, onnxruntime,
onnxscript: a virtual environment, see README-roberta.md):
  1. copies model/ to DEST (config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
     vocab.json, merges.txt) and eval.jsonl / calib.jsonl to DEST/data/;
  2. copies the small results (log, metrics, outliers, reference logits) to scripts/make-hard-bert/roberta/;
  3. exports DEST/model.onnx with the TorchScript exporter (dynamo=False, opset 17, dynamic batch and
     sequence axes, inputs input_ids + attention_mask, output logits) and DEST/model.dynamo.onnx with
     dynamo=True, from the fp16 weights cast to float32 (as reference.json's logits were computed);
  4. checks both with onnxruntime against reference.json (batch 1, and one padded batch) and writes
     the figures to scripts/make-hard-bert/roberta/export.json.

    python scripts/make-hard-bert/install_roberta.py --from .device-results/r4-roberta --to /work/validation/roberta6-hard
"""
import argparse
import collections
import json
import os
import platform
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "roberta")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--from", dest="src", required=True, help="the job's output (.device-results/r4-roberta)")
    ap.add_argument("--to", dest="dest", required=True)
    args = ap.parse_args()
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    import transformers
    from transformers import RobertaForSequenceClassification

    os.makedirs(os.path.join(args.dest, "data"), exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)
    for f in sorted(os.listdir(os.path.join(args.src, "model"))):
        shutil.copyfile(os.path.join(args.src, "model", f), os.path.join(args.dest, f))
    for f in ("eval.jsonl", "calib.jsonl"):
        shutil.copyfile(os.path.join(args.src, f), os.path.join(args.dest, "data", f))
    for f, to in (("log.txt", "train-log.txt"), ("metrics.json", "metrics.json"), ("outliers.json", "outliers.json"),
                  ("reference.json", "reference.json")):
        shutil.copyfile(os.path.join(args.src, f), os.path.join(RESULTS, to))

    ref = json.load(open(os.path.join(args.src, "reference.json"), encoding="utf-8"))
    ids_list = [it["ids"] for it in ref["items"]]
    want = np.array([it["logits"] for it in ref["items"]], dtype=np.float32)
    torch.manual_seed(0)
    model = RobertaForSequenceClassification.from_pretrained(args.dest, attn_implementation="eager").float().eval()
    pad_id = model.config.pad_token_id

    class Logits(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            return self.m(input_ids=input_ids, attention_mask=attention_mask).logits

    def padded(lists):
        L = max(len(x) for x in lists)
        ids = np.full((len(lists), L), pad_id, dtype=np.int64)
        am = np.zeros((len(lists), L), dtype=np.int64)
        for i, x in enumerate(lists):
            ids[i, :len(x)] = x
            am[i, :len(x)] = 1
        return ids, am

    wrap = Logits(model).eval()
    ex_ids, ex_am = padded([ids_list[0], ids_list[1][:5]])
    ex = (torch.from_numpy(ex_ids), torch.from_numpy(ex_am))
    with torch.no_grad():
        pt = np.array([wrap(torch.tensor([x]), torch.ones(1, len(x), dtype=torch.long))[0].numpy() for x in ids_list])
    out = {"versions": {"python": platform.python_version(), "torch": torch.__version__,
                        "transformers": transformers.__version__, "onnx": onnx.__version__,
                        "onnxruntime": ort.__version__},
           "pytorch_here_vs_reference_max_abs": float(np.abs(pt - want).max())}
    print("PyTorch here vs the device's reference: max|d| %.2e" % out["pytorch_here_vs_reference_max_abs"])
    names = ["input_ids", "attention_mask"]
    for exporter, fname in (("torchscript", "model.onnx"), ("dynamo", "model.dynamo.onnx")):
        path = os.path.join(args.dest, fname)
        t = time.time()
        if exporter == "torchscript":
            torch.onnx.export(wrap, ex, path, dynamo=False, opset_version=17, input_names=names, output_names=["logits"],
                              do_constant_folding=True, dynamic_axes={k: {0: "batch", 1: "sequence"} for k in names})
        else:
            from torch.export import Dim
            b, s = Dim("batch", min=1, max=1024), Dim("sequence", min=1, max=model.config.max_position_embeddings - 2)
            torch.onnx.export(wrap, ex, path, dynamo=True, opset_version=17, input_names=names, output_names=["logits"],
                              dynamic_shapes=({0: b, 1: s}, {0: b, 1: s}), external_data=False, report=False,
                              verify=False)
        for f in os.listdir(args.dest):
            if f.startswith(fname) and f != fname:
                raise SystemExit("%s: the exporter wrote external data (%s)" % (fname, f))
        m = onnx.load(path)
        onnx.checker.check_model(m)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        one = np.array([sess.run(["logits"], {"input_ids": np.array([x], dtype=np.int64),
                                              "attention_mask": np.ones((1, len(x)), dtype=np.int64)})[0][0]
                        for x in ids_list])
        ids, am = padded(ids_list)
        batched = sess.run(["logits"], {"input_ids": ids, "attention_mask": am})[0]
        out[exporter] = {
            "file": fname, "size": os.path.getsize(path), "export_seconds": round(time.time() - t, 1),
            "opset": max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
            "inputs": [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in m.graph.input],
            "outputs": [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]) for o in m.graph.output],
            "nodes": len(m.graph.node), "op_types": dict(sorted(collections.Counter(n.op_type for n in m.graph.node).items())),
            "batch1_vs_reference_max_abs": float(np.abs(one - want).max()),
            "padded_batch_vs_reference_max_abs": float(np.abs(batched - want).max()),
            "argmax_agrees": int((one.argmax(-1) == want.argmax(-1)).sum())}
        print("%s: %s %d bytes, opset %d, %d nodes; vs reference batch 1 max|d| %.2e, padded batch %.2e" % (
            exporter, fname, out[exporter]["size"], out[exporter]["opset"], out[exporter]["nodes"],
            out[exporter]["batch1_vs_reference_max_abs"], out[exporter]["padded_batch_vs_reference_max_abs"]))
    with open(os.path.join(RESULTS, "export.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    for f in sorted(os.listdir(args.dest)):
        p = os.path.join(args.dest, f)
        print("  %s %s" % (f, os.path.getsize(p) if os.path.isfile(p) else "/"))


if __name__ == "__main__":
    sys.exit(main())
