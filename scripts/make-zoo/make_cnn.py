#!/usr/bin/env python3
"""Build tests/fixtures/zoo/fpn: a small convolution network with the shapes TensorRT's explicit
quantization has rules for (issue 17 items 5 and 6), trained on the zoo's synthetic shapes task,
then quantize it with the torch worker's module swap (plugins/torch/worker/qrun_worker/module_swap.py):
post-training (calibration only) and with quantization-aware training, and compare.

The network (plain torch, no transformers class; config.json names it for hf.load):
  stem  Conv3x3(3→16)+BN+ReLU                         32×32
  block1 residual block (Conv+BN+ReLU, Conv+BN, + x, ReLU)   → c1 16ch 32×32
  down  Conv3x3/2(16→32)+BN+ReLU                      16×16
  block2 residual block                               → c2 32ch 16×16
  lateral Conv1x1(32→16)+BN, nearest upsample ×2      → u 16ch 32×32
  fuse  Concat(c1, u) → Conv3x3(32→32)+BN+ReLU         (FPN / U-Net style: two resolutions)
  block3 residual block, global average pool, Linear(32→4)

Data: make_zoo.py's generator and seeds, so the images are those of every other zoo vision model
(40,000 training images, the 64 calibration images of which shapes-small.jsonl holds the first 16,
the 500 held-out images of which it holds the first 32).

Runs on the GPU machine (torch 2.11, onnx, onnxscript, onnxruntime; no transformers needed):
  python3 scripts/make-zoo/make_cnn.py --out /tmp/zoo --results $OUT
writes /tmp/zoo/fpn/{config.json, model.safetensors, preprocessor_config.json, reference.json,
onnx/model.onnx, onnx/model-dynamo.onnx} and $OUT/qat.json, $OUT/{ptq,qat}-qdq.onnx.
"""
import argparse
import copy
import json
import os
import platform
import random
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "plugins", "torch", "worker"))

import numpy as np  # noqa: E402

import make_zoo as Z  # noqa: E402  (data generator, seeds, export and check helpers)

NAME = "fpn"
ARCH = "ShapesFPN"
EPOCHS = 4
BATCH = 64
LR = 2e-3
QAT_EPOCHS = 1
QAT_LR = 1e-4
QAT_T = 2.0

T0 = time.time()


def log(*a):
    print("[%7.1fs]" % (time.time() - T0), *a, flush=True)


def build(torch, nn):
    class ConvBN(nn.Sequential):
        def __init__(self, cin, cout, k, stride=1, relu=True):
            layers = [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout)]
            if relu:
                layers.append(nn.ReLU())
            super().__init__(*layers)

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)
            self.relu = nn.ReLU()

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(y)) + x)

    class ShapesFPN(nn.Module):
        def __init__(self, n_labels=4):
            super().__init__()
            self.stem = ConvBN(3, 16, 3)
            self.block1 = Block(16)
            self.down = ConvBN(16, 32, 3, stride=2)
            self.block2 = Block(32)
            self.lateral = ConvBN(32, 16, 1, relu=False)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.fuse = ConvBN(32, 32, 3)
            self.block3 = Block(32)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(32, n_labels)

        def forward(self, pixel_values):
            c1 = self.block1(self.stem(pixel_values))
            c2 = self.block2(self.down(c1))
            u = self.up(self.lateral(c2))
            y = self.block3(self.fuse(torch.cat([c1, u], dim=1)))
            return self.classifier(torch.flatten(self.pool(y), 1))

    return ShapesFPN


def logits_of(torch, model, x, device, bs=250):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), bs):
            out.append(model(torch.from_numpy(x[i:i + bs]).to(device)).float().cpu().numpy())
    return np.concatenate(out)


def compare(ref, cand, y):
    return {
        "agreement": float((ref.argmax(-1) == cand.argmax(-1)).mean()),
        "accuracy": float((cand.argmax(-1) == y).mean()),
        "maxAbsError": float(np.abs(ref - cand).max()),
        # signal-to-quantization-noise ratio of the logits, as qrun's sensitivity step reports it
        "sqnrDb": float(10 * np.log10((ref.astype(np.float64) ** 2).sum() / max(((ref - cand).astype(np.float64) ** 2).sum(), 1e-30))),
        "n": int(len(y)),
    }


def ort_logits(path, x, bs=100):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 4
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"pixel_values": x[i:i + bs]})[0] for i in range(0, len(x), bs)])


def concat_scales(path):
    """For each Concat of a QDQ graph: the scales of the Q/DQ pairs on its inputs and of the pairs
    that re-quantize its output (they must all be one value for TensorRT to drop requantization)."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    prod = {o: n for n in m.graph.node for o in n.output}
    cons = {}
    for n in m.graph.node:
        for i in n.input:
            cons.setdefault(i, []).append(n)
    out = []
    for n in m.graph.node:
        if n.op_type != "Concat":
            continue
        ins = []
        for i in n.input:
            dq = prod.get(i)
            ins.append(float(inits[dq.input[1]]) if dq is not None and dq.op_type == "DequantizeLinear" else None)
        outs = [float(inits[q.input[1]]) for q in cons.get(n.output[0], []) if q.op_type == "QuantizeLinear"]
        out.append({"node": n.name, "inputScales": ins, "outputScales": outs})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="zoo folder; the model goes to <out>/fpn")
    ap.add_argument("--results", required=True, help="folder for qat.json and the QDQ models")
    ap.add_argument("--time-budget", type=float, default=330.0, help="seconds after which optional parts are skipped")
    ap.add_argument("--quick", action="store_true", help="a dry run: 2,000 training images, 1 epoch (not for the zoo)")
    args = ap.parse_args()
    global EPOCHS
    n_train = 2000 if args.quick else Z.N_TRAIN_IMG
    if args.quick:
        EPOCHS = 1
    deadline = T0 + args.time_budget
    os.makedirs(args.results, exist_ok=True)

    import torch
    from torch import nn
    import torch.nn.functional as F
    import onnx
    try:
        import onnxruntime as ort
        ort_version = ort.__version__
    except ImportError:  # a --quick dry run where onnxruntime is missing: the ONNX checks fail and say so
        ort_version = "missing"

    versions = {"python": platform.python_version(), "torch": torch.__version__, "onnx": onnx.__version__,
                "onnxruntime": ort_version, "numpy": np.__version__}
    log("versions", versions)
    random.seed(Z.SEED)
    np.random.seed(Z.SEED)
    torch.manual_seed(Z.SEED)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    import warnings
    warnings.filterwarnings("ignore", message=".*deterministic.*")
    torch.set_num_threads(4)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log("device", device, torch.cuda.get_device_name(0) if device.type == "cuda" else "")

    # ---- data: the zoo's generator and seeds
    t = time.time()
    xtr, ytr = Z.make_images(n_train, Z.SEED + 10, balanced=False)
    xca, yca = Z.make_images(64, Z.SEED + 11, balanced=True)
    xhe, yhe = Z.make_images(Z.N_HELDOUT, Z.SEED + 12, balanced=True)
    log("images: train %s calib %s held-out %s in %.1fs" % (xtr.shape, xca.shape, xhe.shape, time.time() - t))
    xtr_t, ytr_t = torch.from_numpy(xtr).to(device), torch.from_numpy(ytr).to(device)

    # ---- FP32 training
    ShapesFPN = build(torch, nn)
    torch.manual_seed(Z.SEED)
    model = ShapesFPN(len(Z.SHAPES)).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log("%s: %d params" % (ARCH, n_params))

    def train(model, epochs, lr, loss_fn, tag, seed_base):
        decay = [p for p in model.parameters() if p.ndim >= 2]
        nodecay = [p for p in model.parameters() if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": nodecay, "weight_decay": 0.0}], lr=lr)
        steps = -(-len(ytr) // BATCH) * epochs
        sched = torch.optim.lr_scheduler.LambdaLR(opt, Z.lr_lambda(steps, max(1, int(0.06 * steps))))
        hist = []
        for ep in range(epochs):
            model.train()
            order = list(range(len(ytr)))
            random.Random(seed_base + ep).shuffle(order)
            tl, tc, tn = 0.0, 0, 0
            for b in range(0, len(order), BATCH):
                ii = torch.as_tensor(order[b:b + BATCH], device=device)
                xb, yb = xtr_t[ii], ytr_t[ii]
                out = model(xb)
                loss = loss_fn(out, xb, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                if (b // BATCH) % 20 == 0:
                    tl += float(loss.detach()) * len(ii)
                    tc += int((out.argmax(-1) == yb).sum())
                    tn += len(ii)
            hist.append({"epoch": ep + 1, "train_loss_sampled": tl / max(1, tn), "train_acc_sampled": tc / max(1, tn)})
            log("  %s epoch %d loss %.4f acc %.4f (every 20th batch)" % (tag, ep + 1, tl / max(1, tn), tc / max(1, tn)))
        model.eval()
        return hist

    hist = train(model, EPOCHS, LR, lambda out, xb, yb: F.cross_entropy(out, yb), "fp32", Z.SEED * 100)
    model = model.to("cpu").eval()

    # ---- the zoo folder
    mdir = os.path.join(args.out, NAME)
    if os.path.exists(mdir):
        import shutil
        shutil.rmtree(mdir)
    os.makedirs(os.path.join(mdir, "onnx"))
    try:
        from safetensors.torch import save_file
    except ImportError:
        if not args.quick:
            raise

        def save_file(tensors, path, metadata=None):
            torch.save(tensors, path)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(mdir, "model.safetensors"),
              metadata={"format": "pt"})
    config = {
        "architectures": [ARCH], "model_type": "qrun-shapes-fpn",
        "description": "scripts/make-zoo/make_cnn.py: plain torch (no transformers class); the ONNX files are the model",
        "num_channels": 3, "image_size": 32, "num_labels": len(Z.SHAPES),
        "id2label": {str(i): l for i, l in enumerate(Z.SHAPES)}, "label2id": {l: i for i, l in enumerate(Z.SHAPES)},
        "problem_type": "single_label_classification",
    }
    with open(os.path.join(mdir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    pp = {"image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": 32, "width": 32},
          "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": False,
          "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
    with open(os.path.join(mdir, "preprocessor_config.json"), "w") as f:
        json.dump(pp, f, indent=2)

    fp32 = logits_of(torch, model, xhe, "cpu")
    acc = float((fp32.argmax(-1) == yhe).mean())
    per_label = {l: float((fp32.argmax(-1)[yhe == i] == i).mean()) for i, l in enumerate(Z.SHAPES)}
    log("%s: held-out accuracy %.4f %s" % (NAME, acc, per_label))
    items = []
    with torch.no_grad():
        for i in range(Z.N_REF_IMG):
            lg = model(torch.from_numpy(xhe[i:i + 1]))[0].numpy()
            items.append({"label": Z.SHAPES[int(yhe[i])], "pixel_values": np.round(xhe[i].astype(np.float64), 4).tolist(),
                          "logits": [round(float(v), 6) for v in lg], "pred": Z.SHAPES[int(lg.argmax())]})
    check_batches = [{"pixel_values": xhe[i:i + 32]} for i in range(0, Z.N_EVAL_IMG, 32)]
    check_batches += [{"pixel_values": xhe[i:i + 1]} for i in range(Z.N_REF_IMG)]
    with torch.no_grad():
        pt_outs = [model(torch.from_numpy(b["pixel_values"])).numpy() for b in check_batches]

    def ds_fn(mode):
        from torch.export import Dim
        return ({0: Dim("batch", min=1, max=1024)},) if mode == "named" else ({0: Dim.DYNAMIC},)

    exps = Z.export_both(NAME, model, (torch.from_numpy(xhe[:2]),), ["pixel_values"],
                         {"pixel_values": {0: "batch"}, "logits": {0: "batch"}}, ds_fn, os.path.join(mdir, "onnx"),
                         check_batches, pt_outs, arch_note=NAME, keep_bn=True, deadline=deadline)
    ref = {
        "description": "First %d eval images of ../shapes-small.jsonl (pixel_values float32 [3,32,32] in [0,1], generated "
                       "on a 3-decimal grid, listed here rounded to 4 decimals) and PyTorch float32 CPU logits, one image "
                       "at a time, rounded to 6 decimals." % Z.N_REF_IMG,
        "model": NAME, "architecture": ARCH, "labels": Z.SHAPES, "inputs": ["pixel_values"],
        "items": items, "accuracy": acc, "accuracy_n": int(len(yhe)), "accuracy_per_label": per_label,
        "accuracy_set": "500 held-out synthetic images (balanced; the first 128 are the eval split of "
                        "shapes-small.jsonl, possibly truncated there to fit the size budget)",
        "train": {"images": int(len(ytr)), "epochs": EPOCHS, "batch": BATCH, "lr": LR, "history": hist,
                  "device": str(device)},
        "image_processor": "none (plain torch model; preprocessor_config.json: rescale 1/255, no normalization)",
        "params": n_params, "versions": versions, "exporters": exps,
    }
    with open(os.path.join(mdir, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, separators=(",", ":"), default=str)
    entry = {"name": NAME, "architecture": ARCH, "params": n_params, "accuracy": acc,
             "exporters": {k: {kk: v.get(kk) for kk in ("ok", "ort_max_abs_diff", "error", "opset", "nodes")}
                           for k, v in exps.items()},
             "files": sorted(os.path.relpath(os.path.join(r, f), mdir) for r, _, fs in os.walk(mdir) for f in fs),
             "size_bytes": Z.dir_size(mdir), "seconds": round(time.time() - T0, 1)}
    with open(os.path.join(args.results, "summary-entry.json"), "w") as f:
        json.dump(entry, f, indent=1, default=str)
    Z.write_tar(args.out, os.path.join(args.results, "zoo-fpn.tar"))
    log("zoo model written: %d bytes" % entry["size_bytes"])

    # ---- module-swap PTQ and QAT (plugins/torch/worker/qrun_worker/module_swap.py)
    from qrun_worker import module_swap as MS
    from qrun_worker.quant import set_mode
    results = {"fp32": {"accuracy": acc, "n": int(len(yhe))}, "versions": versions}

    def save_results():
        with open(os.path.join(args.results, "qat.json"), "w") as f:
            json.dump(results, f, indent=1, default=str)

    calib = [torch.from_numpy(xca[i:i + 16]) for i in range(0, len(xca), 16)]
    base, info = MS.prepare(copy.deepcopy(model))
    results["prepare"] = {"batchNorm": info["batchNorm"], "swapped": len(info["swapped"]),
                          "residualAdds": info["residualAdds"], "concats": info["concats"]}
    log("prepare:", results["prepare"])
    set_mode(base, "off")
    folded = logits_of(torch, base, xhe, "cpu")
    results["bnFoldMaxAbsDiff"] = float(np.abs(folded - fp32).max())
    log("BN folded + swapped, quantizers off: max|Δ| vs FP32 %.3g" % results["bnFoldMaxAbsDiff"])

    ptq_models = {}
    for method in ("max", "percentile", "mse", "entropy"):
        m = copy.deepcopy(base)
        MS.calibrate(m, calib, method=method)
        lg = logits_of(torch, m, xhe, "cpu")
        results.setdefault("ptq", {})[method] = compare(fp32, lg, yhe)
        ptq_models[method] = m
        log("PTQ %-10s (torch fake quant, 500 held-out): %s" % (method, results["ptq"][method]))
        save_results()

    start = "percentile"  # calibrate's default method; QAT starts from its ranges and keeps them fixed
    qat_model = copy.deepcopy(ptq_models[start]).to(device)
    teacher = copy.deepcopy(model).to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    def distill(out, xb, yb):
        with torch.no_grad():
            t_logits = teacher(xb)
        return F.kl_div(F.log_softmax(out / QAT_T, -1), F.softmax(t_logits / QAT_T, -1), reduction="batchmean") * QAT_T ** 2

    def run_qat(start_method, lr, epochs, seed):
        m = copy.deepcopy(ptq_models[start_method]).to(device)
        t = time.time()
        hist = train(m, epochs, lr, distill, "qat %s lr %g x%d" % (start_method, lr, epochs), seed)
        m = m.to("cpu").eval()
        out = {"from": start_method, "epochs": epochs, "lr": lr, "temperature": QAT_T, "history": hist,
               "seconds": round(time.time() - t, 1), **compare(fp32, logits_of(torch, m, xhe, "cpu"), yhe)}
        return m, out

    # The QAT reported: settings chosen before seeing any result (calibrate's default method, a
    # learning rate 20x below training's, one epoch, distillation at T=2 as torch.qat does).
    qat_model, results["qat"] = run_qat(start, QAT_LR, QAT_EPOCHS, Z.SEED * 200)
    log("QAT (torch fake quant, 500 held-out): %s" % {k: v for k, v in results["qat"].items() if k != "history"})
    save_results()

    # ---- QDQ ONNX exports, checked with onnxruntime against torch and FP32
    for tag, m in (("ptq-" + start, ptq_models[start]), ("ptq-max", ptq_models["max"]), ("qat", qat_model)):
        path = os.path.join(args.results, tag + "-qdq.onnx")
        try:
            _, counts = MS.export_qdq_model(m, torch.from_numpy(xhe[:2]), path)
            torch_lg = logits_of(torch, m, xhe, "cpu")
            ort_lg = ort_logits(path, xhe)
            ops = {}
            for n in onnx.load(path).graph.node:
                ops[n.op_type] = ops.get(n.op_type, 0) + 1
            results.setdefault("onnx", {})[tag] = {
                "file": os.path.basename(path), "bytes": os.path.getsize(path), "counts": counts, "ops": ops,
                "ortVsTorchMaxAbs": float(np.abs(ort_lg - torch_lg).max()),
                "ortVsTorchAgreement": float((ort_lg.argmax(-1) == torch_lg.argmax(-1)).mean()),
                "ortVsFp32": compare(fp32, ort_lg, yhe), "concatScales": concat_scales(path)}
            log("ONNX %s: %s" % (tag, results["onnx"][tag]))
        except Exception as e:
            results.setdefault("onnx", {})[tag] = {"error": repr(e)[:2000]}
            log("ONNX %s FAILED: %r\n%s" % (tag, e, traceback.format_exc()[-3000:]))
        save_results()

    # ---- how much the QAT numbers depend on its settings (reported beside, not chosen from)
    for start_method, lr, epochs in (("max", QAT_LR, 1), ("percentile", 3 * QAT_LR, 1), ("percentile", QAT_LR, 2),
                                     ("entropy", QAT_LR, 1)):
        if time.time() > deadline + 40:
            log("QAT sweep: out of time")
            break
        _, r = run_qat(start_method, lr, epochs, Z.SEED * 300 + epochs)
        results.setdefault("qatSweep", []).append({k: v for k, v in r.items() if k != "history"})
        log("QAT sweep: %s" % results["qatSweep"][-1])
        save_results()
    log("done")


if __name__ == "__main__":
    main()
