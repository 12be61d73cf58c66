#!/usr/bin/env python3
"""Train the small BERT language-identification model shipped in models/bert-langid.

Runs on the GPU machine (Python 3.12, torch, transformers 5.x, tokenizers,
onnx, onnxruntime; no network). Input: the corpus written by
extract_corpus.py (scripts/make-model/.work/corpus/{train,eval}.jsonl).
Output (under --out, in the repository layout):
  models/bert-langid/{config.json,model.safetensors,tokenizer.json,
                      tokenizer_config.json,special_tokens_map.json?,vocab.txt,
                      onnx/model.onnx}
  data/langid/{calib.jsonl,eval.jsonl}
  tests/fixtures/bert-langid/reference.json
  metrics.json

Usage:
  CUBLAS_WORKSPACE_CONFIG=:4096:8 python scripts/make-model/train.py \
      --corpus scripts/make-model/.work/corpus --out /tmp/stage
"""
import argparse
import collections
import json
import math
import os
import platform
import random
import sys
import time
import traceback

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import numpy as np
import torch

SEED = 20240601
MAX_LEN = 128
VOCAB_SIZE = 4000
TRAIN_CAP_PER_LABEL = 12000   # limits the en/fr/es majority classes
N_CALIB = 256
N_EVAL_PER_LABEL = 112        # 9 labels -> 1008 eval sentences
N_REF = 64
EPOCHS = 8
BATCH = 128
LR = 5e-4
WARMUP_FRAC = 0.05
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

T0 = time.time()


def log(*a):
    print("[%7.1fs]" % (time.time() - T0), *a, flush=True)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"text": r["text"], "label": r["label"]},
                               ensure_ascii=False) + "\n")


def by_label(rows):
    d = collections.defaultdict(list)
    for r in rows:
        d[r["label"]].append(r)
    for k in d:
        d[k].sort(key=lambda r: (r["text"], r["group"]))
    return dict(sorted(d.items()))


def balanced_sample(groups, n_total, rng):
    labels = sorted(groups)
    per = n_total // len(labels)
    extra = n_total - per * len(labels)
    out = []
    for i, lab in enumerate(labels):
        k = per + (1 if i < extra else 0)
        pool = list(groups[lab])
        rng.shuffle(pool)
        out.extend(pool[:k])
    rng.shuffle(out)
    return out


def build_tokenizer(texts):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##",
                                     max_input_chars_per_word=100))
    # lowercase, but keep accents: diacritics are the strongest language cue.
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=False, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=VOCAB_SIZE, min_frequency=2,
                                        special_tokens=SPECIALS, limit_alphabet=200,
                                        continuing_subword_prefix="##", show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    tok.enable_truncation(max_length=MAX_LEN)
    tok.no_padding()
    return tok


def save_tokenizer(tok, mdir):
    import transformers
    try:
        from transformers import PreTrainedTokenizerFast as Fast
    except ImportError:  # transformers 5 name
        from transformers import TokenizersBackend as Fast
    hf = Fast(tokenizer_object=tok, model_max_length=MAX_LEN, padding_side="right",
              truncation_side="right", unk_token="[UNK]", pad_token="[PAD]",
              cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
              model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    hf.save_pretrained(mdir)
    # the canonical tokenizer.json is the tokenizers-library one (keeps the
    # truncation=128 / no-padding settings exactly as configured).
    tok.save(os.path.join(mdir, "tokenizer.json"))
    vocab = tok.get_vocab()
    inv = sorted(vocab.items(), key=lambda kv: kv[1])
    assert [i for _, i in inv] == list(range(len(inv))), "vocab ids not dense"
    with open(os.path.join(mdir, "vocab.txt"), "w", encoding="utf-8") as f:
        for t, _ in inv:
            f.write(t + "\n")
    log("tokenizer files:", sorted(os.listdir(mdir)))
    with open(os.path.join(mdir, "tokenizer.json")) as f:
        tj = json.load(f)
    log("tokenizer.json truncation:", tj.get("truncation"), "padding:", tj.get("padding"))


def encode(tok, texts):
    return [e.ids for e in tok.encode_batch(texts)]


def make_batch(id_lists, device):
    L = max(len(x) for x in id_lists)
    ids = np.zeros((len(id_lists), L), dtype=np.int64)
    am = np.zeros((len(id_lists), L), dtype=np.int64)
    for i, x in enumerate(id_lists):
        ids[i, :len(x)] = x
        am[i, :len(x)] = 1
    tt = np.zeros_like(ids)
    t = lambda a: torch.from_numpy(a).to(device)
    return t(ids), t(am), t(tt)


@torch.no_grad()
def predict(model, id_lists, device, bs=256):
    model.eval()
    out = []
    for i in range(0, len(id_lists), bs):
        ids, am, tt = make_batch(id_lists[i:i + bs], device)
        out.append(model(input_ids=ids, attention_mask=am, token_type_ids=tt).logits.float().cpu())
    return torch.cat(out).numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="scripts/make-model/.work/corpus")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    args = ap.parse_args()

    import tokenizers
    import transformers
    from transformers import BertConfig, BertForSequenceClassification
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "numpy": np.__version__}
    try:
        import onnx
        versions["onnx"] = onnx.__version__
    except Exception:
        onnx = None
    try:
        import onnxruntime as ort
        versions["onnxruntime"] = ort.__version__
    except Exception:
        ort = None
    log("versions", versions)

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log("device", device, torch.cuda.get_device_name(0) if device.type == "cuda" else "")

    mdir = os.path.join(args.out, "models", "bert-langid")
    ddir = os.path.join(args.out, "data", "langid")
    fdir = os.path.join(args.out, "tests", "fixtures", "bert-langid")
    for d in (mdir, ddir, fdir):
        os.makedirs(d, exist_ok=True)

    # ---------------- data ----------------
    train_all = read_jsonl(os.path.join(args.corpus, "train.jsonl"))
    eval_all = read_jsonl(os.path.join(args.corpus, "eval.jsonl"))
    tr_groups, ev_groups = by_label(train_all), by_label(eval_all)
    labels = sorted(tr_groups)
    assert labels == sorted(ev_groups)
    label2id = {l: i for i, l in enumerate(labels)}
    rng = random.Random(SEED)
    train = []
    for lab in labels:
        pool = list(tr_groups[lab])
        rng.shuffle(pool)
        train.extend(pool[:TRAIN_CAP_PER_LABEL])
    rng.shuffle(train)
    log("labels", labels)
    log("corpus train per label", {l: len(v) for l, v in tr_groups.items()})
    log("corpus eval per label", {l: len(v) for l, v in ev_groups.items()})
    log("used train per label", dict(sorted(collections.Counter(r["label"] for r in train).items())),
        "total", len(train))
    calib = balanced_sample(tr_groups, N_CALIB, random.Random(SEED + 1))
    evalset = balanced_sample(ev_groups, N_EVAL_PER_LABEL * len(labels), random.Random(SEED + 2))
    train_texts = set(r["text"] for r in train_all)
    assert not any(r["text"] in train_texts for r in evalset), "eval text leaks into train"
    assert not (set(r["group"] for r in train_all) & set(r["group"] for r in evalset)), "group leak"
    write_jsonl(os.path.join(ddir, "calib.jsonl"), calib)
    write_jsonl(os.path.join(ddir, "eval.jsonl"), evalset)
    log("calib", len(calib), dict(sorted(collections.Counter(r["label"] for r in calib).items())))
    log("eval", len(evalset), dict(sorted(collections.Counter(r["label"] for r in evalset).items())))

    # ---------------- tokenizer ----------------
    tok = build_tokenizer([r["text"] for r in train])
    log("vocab size", tok.get_vocab_size())
    save_tokenizer(tok, mdir)
    tr_ids = encode(tok, [r["text"] for r in train])
    tr_y = np.array([label2id[r["label"]] for r in train], dtype=np.int64)
    ev_full_ids = encode(tok, [r["text"] for r in eval_all])
    ev_full_y = np.array([label2id[r["label"]] for r in eval_all], dtype=np.int64)
    lens = np.array([len(x) for x in tr_ids])
    log("train token lengths: mean %.1f p50 %d p99 %d max %d, truncated %d" % (
        lens.mean(), np.median(lens), np.percentile(lens, 99), lens.max(), int((lens >= MAX_LEN).sum())))
    unk = tok.token_to_id("[UNK]")
    log("unk rate train %.5f" % (sum(x.count(unk) for x in tr_ids) / lens.sum()))

    # ---------------- model ----------------
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=128, num_hidden_layers=4,
                        num_attention_heads=4, intermediate_size=512, max_position_embeddings=MAX_LEN,
                        type_vocab_size=2, pad_token_id=tok.token_to_id("[PAD]"),
                        num_labels=len(labels), id2label={i: l for l, i in label2id.items()},
                        label2id=dict(label2id), problem_type="single_label_classification")
    torch.manual_seed(SEED)
    model = BertForSequenceClassification(config).to(device)
    log("params", sum(p.numel() for p in model.parameters()))
    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    params = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)],
         "weight_decay": 0.0}]
    opt = torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.999), eps=1e-8)
    steps_per_epoch = math.ceil(len(tr_ids) / BATCH)
    total = steps_per_epoch * args.epochs
    warm = int(WARMUP_FRAC * total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / (total - warm)))
    step = 0
    history = []
    for ep in range(args.epochs):
        model.train()
        order = list(range(len(tr_ids)))
        random.Random(SEED * 100 + ep).shuffle(order)
        tl, tc, tn = 0.0, 0, 0
        for b in range(0, len(order), BATCH):
            idx = order[b:b + BATCH]
            ids, am, tt = make_batch([tr_ids[i] for i in idx], device)
            y = torch.from_numpy(tr_y[idx]).to(device)
            out = model(input_ids=ids, attention_mask=am, token_type_ids=tt, labels=y)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            tl += out.loss.item() * len(idx)
            tc += (out.logits.argmax(-1) == y).sum().item()
            tn += len(idx)
        ev_logits = predict(model, ev_full_ids, device)
        acc = float((ev_logits.argmax(-1) == ev_full_y).mean())
        history.append({"epoch": ep + 1, "train_loss": tl / tn, "train_acc": tc / tn, "eval_split_acc": acc})
        log("epoch %d loss %.4f train_acc %.4f eval_split_acc %.4f lr %.2e" % (
            ep + 1, tl / tn, tc / tn, acc, sched.get_last_lr()[0]))

    # per-label report on the full eval split
    pred = ev_logits.argmax(-1)
    conf = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(ev_full_y, pred):
        conf[t, p] += 1
    log("confusion (rows=true, cols=pred)", labels)
    for i, l in enumerate(labels):
        log("  %s %s acc %.4f" % (l, " ".join("%5d" % v for v in conf[i]), conf[i, i] / conf[i].sum()))
    errs = [(eval_all[i]["label"], labels[pred[i]], eval_all[i]["text"]) for i in np.nonzero(pred != ev_full_y)[0][:15]]
    for e in errs:
        log("  err true=%s pred=%s: %r" % e)

    # ---------------- save HF layout ----------------
    model = model.to("cpu").eval()
    try:
        model.save_pretrained(mdir, safe_serialization=True)
    except TypeError:
        model.save_pretrained(mdir)
    log("model dir:", sorted(os.listdir(mdir)))

    # reload in float32, eager attention, CPU: this is the reference model
    ref_model = BertForSequenceClassification.from_pretrained(mdir, attn_implementation="eager").float().eval()
    from tokenizers import Tokenizer
    tok2 = Tokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
    ev_ids = [e.ids for e in tok2.encode_batch([r["text"] for r in evalset])]
    ev_y = np.array([label2id[r["label"]] for r in evalset])
    torch.set_num_threads(8)
    pt_logits = predict(ref_model, ev_ids, "cpu", bs=32)
    pt_acc = float((pt_logits.argmax(-1) == ev_y).mean())
    log("PyTorch CPU fp32 eager accuracy on eval.jsonl (%d): %.4f" % (len(evalset), pt_acc))
    per_label_acc = {l: float((pt_logits.argmax(-1)[ev_y == i] == i).mean()) for i, l in enumerate(labels)}
    log("per label", per_label_acc)

    # AutoTokenizer check
    try:
        from transformers import AutoTokenizer
        at = AutoTokenizer.from_pretrained(mdir)
        same = sum(at(r["text"])["input_ids"] == ev_ids[i] for i, r in enumerate(evalset[:N_REF]))
        log("AutoTokenizer class %s, ids equal to tokenizers lib on %d/%d ref texts; model_max_length %s"
            % (type(at).__name__, same, N_REF, at.model_max_length))
    except Exception:
        log("AutoTokenizer FAILED\n" + traceback.format_exc())

    # reference: per-sentence, unpadded (batch 1), token_type_ids = 0, mask = 1
    ref = {"description": "First %d texts of data/langid/eval.jsonl: token ids from the Python tokenizers "
                          "library (Tokenizer.from_file('tokenizer.json').encode(text).ids, no padding) and "
                          "PyTorch float32 CPU logits computed one sentence at a time (batch 1, no padding, "
                          "attention_mask=1, token_type_ids=0), rounded to 6 decimals." % N_REF,
           "labels": labels, "items": []}
    with torch.no_grad():
        for i, r in enumerate(evalset[:N_REF]):
            ids, am, tt = make_batch([ev_ids[i]], "cpu")
            lg = ref_model(input_ids=ids, attention_mask=am, token_type_ids=tt).logits[0].numpy()
            ref["items"].append({"text": r["text"], "label": r["label"], "ids": ev_ids[i],
                                 "logits": [round(float(v), 6) for v in lg],
                                 "pred": labels[int(lg.argmax())]})
    ref_logits = np.array([it["logits"] for it in ref["items"]], dtype=np.float64)
    ref["eval_accuracy_pytorch"] = pt_acc
    ref["eval_size"] = len(evalset)
    ref["eval_accuracy_per_label"] = per_label_acc
    ref["versions"] = versions

    # ---------------- ONNX ----------------
    metrics = {"labels": labels, "history": history, "eval_accuracy_pytorch": pt_acc,
               "eval_split_accuracy_gpu": history[-1]["eval_split_acc"], "eval_split_size": len(eval_all),
               "train_size": len(train), "vocab_size": tok.get_vocab_size(), "versions": versions}
    odir = os.path.join(mdir, "onnx")
    os.makedirs(odir, exist_ok=True)
    opath = os.path.join(odir, "model.onnx")

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).logits

    wrap = Wrap(ref_model).eval()
    # example with real padding so no "mask is all ones" shortcut gets baked in
    ex = make_batch([ev_ids[0], ev_ids[1][:5]], "cpu")
    dyn = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
           "token_type_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}}
    exporter = None
    try:
        torch.onnx.export(wrap, ex, opath, dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["logits"], dynamic_axes=dyn, do_constant_folding=True)
        exporter = "torchscript (dynamo=False)"
    except Exception:
        log("TorchScript export failed, falling back to dynamo=True\n" + traceback.format_exc())
        for f in os.listdir(odir):
            os.remove(os.path.join(odir, f))
        try:
            torch.onnx.export(wrap, ex, opath, dynamo=True, opset_version=17,
                              input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["logits"], dynamic_axes=dyn)
            exporter = "dynamo (dynamo=True)"
        except Exception:
            log("dynamo export FAILED too\n" + traceback.format_exc())
    log("exported with", exporter)
    metrics["onnx_exporter"] = exporter
    if onnx is not None:
        try:
            m = onnx.load(opath)  # pulls in external data if any was written
            extra = [f for f in os.listdir(odir) if f != "model.onnx"]
            if extra:
                log("external data files found, inlining:", extra)
                for f in extra:
                    os.remove(os.path.join(odir, f))
                onnx.save_model(m, opath, save_as_external_data=False)
                m = onnx.load(opath)
            onnx.checker.check_model(m, full_check=True)
            ops = dict(sorted(collections.Counter(n.op_type for n in m.graph.node).items()))
            info = {"ir_version": m.ir_version,
                    "opset_import": {(o.domain or "ai.onnx"): o.version for o in m.opset_import},
                    "producer": "%s %s" % (m.producer_name, m.producer_version),
                    "nodes": len(m.graph.node), "initializers": len(m.graph.initializer),
                    "op_types": ops,
                    "inputs": [(i.name, i.type.tensor_type.elem_type,
                                [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in m.graph.input],
                    "outputs": [(o.name, o.type.tensor_type.elem_type,
                                 [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]) for o in m.graph.output],
                    "external_data": any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer),
                    "files_in_onnx_dir": sorted(os.listdir(odir)), "size_bytes": os.path.getsize(opath)}
            log("onnx.checker OK; graph info:", json.dumps(info))
            metrics["onnx"] = info
        except Exception:
            log("ONNX check FAILED\n" + traceback.format_exc())
    if ort is not None:
        try:
            sess = ort.InferenceSession(opath, providers=["CPUExecutionProvider"])
            ort_logits = []
            for i in range(0, len(ev_ids), 32):
                ids, am, tt = make_batch(ev_ids[i:i + 32], "cpu")
                ort_logits.append(sess.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": am.numpy(),
                                                        "token_type_ids": tt.numpy()})[0])
            ort_logits = np.concatenate(ort_logits)
            d_batched = float(np.abs(ort_logits - pt_logits).max())
            agree = float((ort_logits.argmax(-1) == pt_logits.argmax(-1)).mean())
            ort_acc = float((ort_logits.argmax(-1) == ev_y).mean())
            d_single = 0.0
            for i, it in enumerate(ref["items"]):
                ids, am, tt = make_batch([it["ids"]], "cpu")
                o = sess.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": am.numpy(),
                                          "token_type_ids": tt.numpy()})[0][0]
                d_single = max(d_single, float(np.abs(o - ref_logits[i]).max()))
            # rounding of the reference to 6 decimals contributes <= 5e-7
            log("ORT vs PyTorch: max|diff| padded batches of 32 over %d eval texts = %.3g; "
                "batch-1 vs reference.json (64) = %.3g; argmax agreement %.4f; ORT accuracy %.4f"
                % (len(ev_ids), d_batched, d_single, agree, ort_acc))
            metrics.update({"ort_max_abs_diff_batched": d_batched, "ort_max_abs_diff_ref": d_single,
                            "ort_argmax_agreement": agree, "eval_accuracy_ort": ort_acc})
            ref["ort_max_abs_diff"] = max(d_batched, d_single)
            if max(d_batched, d_single) >= 1e-4:
                log("WARNING: ORT diff >= 1e-4")
        except Exception:
            log("ORT check FAILED\n" + traceback.format_exc())
    ref["onnx_exporter"] = exporter
    with open(os.path.join(fdir, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, indent=1)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    for root, _, files in sorted(os.walk(args.out)):
        for fn in sorted(files):
            p = os.path.join(root, fn)
            log("  %9d %s" % (os.path.getsize(p), os.path.relpath(p, args.out)))
    log("done")


if __name__ == "__main__":
    main()
