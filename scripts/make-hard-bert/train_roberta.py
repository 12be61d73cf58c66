#!/usr/bin/env python3
"""Pretrain (masked-language modelling) and fine-tune roberta6-hard on the GPU machine.

The second hard validation model for issue 17, beside models/bert6-hard: the same corpus, labels and
training recipe as train.py, but the RoBERTa architecture (RobertaForSequenceClassification: byte-level
BPE, no token types, position ids counted from padding_idx + 1, post-LN with eps 1e-5, a two-layer
classification head on <s> instead of BERT's pooler) and another seed, so the calibrators are judged
on a second set of outlier channels rather than on bert6-hard's channel 56 alone.

The corpus and its split come from train.py (load_corpus, select_texts: evaluation texts round-robin
over held-out packages, calibration texts from training packages kept out of fine-tuning), and so do
the outlier statistics (outlier_stats works on RobertaModel's LayerNorms as on BertModel's).

Everything runs against wall-clock deadlines counted from $JOB_T0 (the device job is killed at
JOB_LIMIT, 430 s): tokenizer + data -> pretraining until PRETRAIN_END -> fine-tuning until
FINETUNE_END -> fp16 HF folder, eval/calib texts, fp32 reference logits, outliers, metrics ->
(if time is left) a TorchScript ONNX export checked with onnxruntime, then a dynamo one. The ONNX
files stay on the device (56 MB each: the device returns 64 MB in all); export_roberta.py makes the
shipped ones from the fp16 checkpoint.

Usage: python3 scripts/make-hard-bert/train_roberta.py --corpus PATH.jsonl.xz --out DIR [--smoke]
  --smoke: a CPU check of the whole path in a few minutes (tiny batches and sets, short deadlines).
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train as hb  # noqa: E402  (train.py: corpus, split, outlier statistics, logging)
from train import elapsed, log, write_json, write_jsonl  # noqa: E402

import numpy as np  # noqa: E402

torch = hb.torch

SEED = 20261207            # bert6-hard's is 20261201
MAX_LEN = 128
MAX_POSITIONS = MAX_LEN + 2  # RoBERTa's position ids start at padding_idx + 1 = 2
VOCAB_SIZE = 8000
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, as roberta-base
PRETRAIN_END = float(os.environ.get("PRETRAIN_END", 295))
FINETUNE_END = float(os.environ.get("FINETUNE_END", 355))
EXPORT_LATEST_START = float(os.environ.get("EXPORT_LATEST_START", 392))
DYNAMO_LATEST_START = float(os.environ.get("DYNAMO_LATEST_START", 398))
MLM_BATCH = 256
MLM_LR = 8e-4
MLM_WARMUP = 300
FT_BATCH = 64
FT_LR = 1e-4
FT_WARMUP = 100
FT_CAP_PER_LABEL = 5000
N_EVAL_PER_LABEL = 400     # 7 labels -> 2800 eval texts
N_CALIB = 64
N_PROBE = 96
N_REFERENCE = 64           # eval texts with PyTorch CPU float32 logits (batch 1)


def build_tokenizer(texts):
    """Byte-level BPE as roberta-base's tokenizer.json has it: no normalizer, ByteLevel pre-tokenizer
    without a prefix space, RobertaProcessing (<s> $A </s>), truncation to MAX_LEN."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    ids = [tok.token_to_id(s) for s in SPECIALS]
    assert ids == list(range(len(SPECIALS))), ("special ids", ids)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True,
                                                      add_prefix_space=False)
    tok.enable_truncation(max_length=MAX_LEN)
    tok.no_padding()
    return tok


def save_tokenizer(tok, mdir, sample_texts):
    """tokenizer.json (as built), tokenizer_config.json (transformers' RobertaTokenizer), vocab.json +
    merges.txt; checks that transformers' AutoTokenizer reads the folder back to the same ids."""
    try:
        from transformers import RobertaTokenizer
        hf = RobertaTokenizer(tokenizer_object=tok, model_max_length=MAX_LEN, bos_token="<s>", eos_token="</s>",
                              unk_token="<unk>", pad_token="<pad>", cls_token="<s>", sep_token="</s>",
                              mask_token="<mask>", add_prefix_space=False,
                              model_input_names=["input_ids", "attention_mask"])
        hf.save_pretrained(mdir)
    except Exception:
        log("transformers tokenizer save failed (tokenizer.json still written)\n" + traceback.format_exc())
    if os.path.exists(os.path.join(mdir, "chat_template.jinja")):
        os.remove(os.path.join(mdir, "chat_template.jinja"))
    tok.save(os.path.join(mdir, "tokenizer.json"))
    tok.model.save(mdir)  # vocab.json, merges.txt
    try:
        from transformers import AutoTokenizer
        back = AutoTokenizer.from_pretrained(mdir)
        got = back(sample_texts, truncation=True, max_length=MAX_LEN)["input_ids"]
        want = [e.ids for e in tok.encode_batch(sample_texts)]
        log("AutoTokenizer (%s) reads the folder back: %d of %d texts give the same ids" % (
            type(back).__name__, sum(a == b for a, b in zip(got, want)), len(want)))
    except Exception:
        log("AutoTokenizer read-back failed\n" + traceback.format_exc())


class Logits(torch.nn.Module if torch else object):
    """input_ids, attention_mask -> logits (the exporters' signature)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        return self.m(input_ids=input_ids, attention_mask=attention_mask).logits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dry-run", action="store_true", help="data preparation only (no torch work)")
    ap.add_argument("--smoke", action="store_true", help="CPU check: tiny batches and sets, short deadlines")
    args = ap.parse_args()
    global PRETRAIN_END, FINETUNE_END, EXPORT_LATEST_START, DYNAMO_LATEST_START, MLM_BATCH, FT_BATCH
    if args.smoke:
        PRETRAIN_END, FINETUNE_END, EXPORT_LATEST_START, DYNAMO_LATEST_START = (
            elapsed() + 150, elapsed() + 190, elapsed() + 1e4, elapsed() + 1e4)
        MLM_BATCH, FT_BATCH = 8, 16
    os.makedirs(args.out, exist_ok=True)
    mdir = os.path.join(args.out, "model")
    os.makedirs(mdir, exist_ok=True)

    # ---------------- corpus (train.py's split and selection, this seed) ----------------
    docs, labels = hb.load_corpus(args.corpus)
    label2id = {l: i for i, l in enumerate(labels)}
    sel = hb.select_texts(docs, labels, SEED, n_eval_per_label=N_EVAL_PER_LABEL, n_calib=N_CALIB,
                          ft_cap=FT_CAP_PER_LABEL)
    train_docs, evalset, calib, ft_train, ev_all, rng = (
        sel[k] for k in ("train_docs", "evalset", "calib", "ft_train", "ev_all", "rng"))
    counts = collections.Counter(r["label"] for r in evalset)
    assert len(evalset) >= 2000 and len(set(counts.values())) == 1, ("eval set not balanced", counts)
    ev_groups = set(r["group"] for r in evalset)
    assert not ev_groups & set(d["g"] for d in train_docs), "an eval package is in pre-training"
    write_jsonl(os.path.join(args.out, "eval.jsonl"), evalset)
    write_jsonl(os.path.join(args.out, "calib.jsonl"), calib)
    log("corpus: %d documents, %d train / %d eval; labels %s" % (len(docs), len(train_docs), len(sel["eval_docs"]), labels))
    log("eval %d %s from %d packages; calib %d; fine-tune train %d %s; all eval-split paragraphs %d" % (
        len(evalset), dict(sorted(counts.items())), len(ev_groups), len(calib), len(ft_train),
        dict(sorted(collections.Counter(r["label"] for r in ft_train).items())), len(ev_all)))
    if args.smoke:
        ft_train = ft_train[:300]
        ev_all = rng.sample(ev_all, 200)
    if args.dry_run:
        log("dry run: data preparation done")
        return

    import tokenizers
    import transformers
    from transformers import RobertaConfig, RobertaForMaskedLM, RobertaForSequenceClassification
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "numpy": np.__version__}
    log("versions", versions)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(4 if not args.smoke else 2)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log("device", device, torch.cuda.get_device_name(0) if device.type == "cuda" else "")
    torch.backends.cuda.matmul.allow_tf32 = True

    # ---------------- tokenizer ----------------
    tok_texts = [p for d in train_docs for p in d["p"]]
    tok = build_tokenizer(tok_texts)
    log("tokenizer trained: byte-level BPE, vocab %d on %d paragraphs" % (tok.get_vocab_size(), len(tok_texts)))
    save_tokenizer(tok, mdir, [r["text"] for r in evalset[:200]])
    cls_id, pad_id, sep_id, unk_id, mask_id = range(5)

    # MLM rows: the training documents' paragraphs in a shuffled document order, </s> between
    # paragraphs, packed into full rows <s> 126 tokens </s> (RoBERTa's FULL-SENTENCES packing)
    tok.no_truncation()
    order = list(range(len(train_docs)))
    random.Random(SEED + 1).shuffle(order)
    flat_texts = [p for i in order for p in train_docs[i]["p"]]
    enc = tok.encode_batch(flat_texts, add_special_tokens=False)
    stream = []
    for e in enc:
        stream.extend(e.ids)
        stream.append(sep_id)
    n_rows = len(stream) // (MAX_LEN - 2)
    body = np.array(stream[:n_rows * (MAX_LEN - 2)], dtype=np.int64).reshape(n_rows, MAX_LEN - 2)
    mlm = np.concatenate([np.full((n_rows, 1), cls_id), body, np.full((n_rows, 1), sep_id)], axis=1)
    tok.enable_truncation(max_length=MAX_LEN)
    lens = [len(e.ids) for e in enc]
    log("MLM rows %d x %d (%d tokens; %.1f tokens per paragraph)" % (n_rows, MAX_LEN, len(stream), np.mean(lens)))
    probe_texts = [r["text"] for r in rng.sample(ev_all, min(N_PROBE, len(ev_all)))]
    probe = [e.ids for e in tok.encode_batch(probe_texts)]
    ft_ids = [e.ids for e in tok.encode_batch([r["text"] for r in ft_train])]
    ft_y = np.array([label2id[r["label"]] for r in ft_train], dtype=np.int64)
    evall_ids = [e.ids for e in tok.encode_batch([r["text"] for r in ev_all])]
    evall_y = np.array([label2id[r["label"]] for r in ev_all], dtype=np.int64)

    def pad(id_lists, dev):
        return hb.pad_batch(id_lists, dev, pad_id)

    # ---------------- MLM pretraining ----------------
    cfg_kwargs = dict(vocab_size=tok.get_vocab_size(), hidden_size=384, num_hidden_layers=6,
                      num_attention_heads=6, intermediate_size=1536, max_position_embeddings=MAX_POSITIONS,
                      type_vocab_size=1, pad_token_id=pad_id, bos_token_id=cls_id, eos_token_id=sep_id,
                      hidden_act="gelu", layer_norm_eps=1e-5)
    torch.manual_seed(SEED)
    mlm_model = RobertaForMaskedLM(RobertaConfig(**cfg_kwargs)).to(device)
    mlm_model.train()
    n_params = sum(p.numel() for p in mlm_model.parameters())
    log("MLM model params %d" % n_params)
    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")

    def param_groups(model):
        return [
            {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)], "weight_decay": 0.01},
            {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0}]

    opt = torch.optim.AdamW(param_groups(mlm_model), lr=MLM_LR, betas=(0.9, 0.98), eps=1e-6,
                            fused=device.type == "cuda")
    data = torch.from_numpy(mlm).to(device)
    gen = torch.Generator(device=device)
    gen.manual_seed(SEED)
    special = torch.zeros(tok.get_vocab_size(), dtype=torch.bool, device=device)
    special[[cls_id, sep_id, pad_id]] = True
    t_start = elapsed()
    budget = PRETRAIN_END - t_start
    step, seen_rows = 0, 0
    perm = torch.randperm(n_rows, generator=gen, device=device)
    pos = 0
    history, outlier_history = [], []
    loss_acc, loss_n = 0.0, 0
    next_report = t_start + 30
    next_outliers = t_start + 60
    while elapsed() < PRETRAIN_END:
        if pos + MLM_BATCH > n_rows:
            perm = torch.randperm(n_rows, generator=gen, device=device)
            pos = 0
        ids = data[perm[pos:pos + MLM_BATCH]]
        pos += MLM_BATCH
        # dynamic masking, as RoBERTa: 15% of the real tokens; of those 80% <mask>, 10% random, 10% kept
        r = torch.rand(ids.shape, generator=gen, device=device)
        sel_m = (r < 0.15) & ~special[ids]
        labels_t = torch.where(sel_m, ids, torch.full_like(ids, -100))
        r2 = torch.rand(ids.shape, generator=gen, device=device)
        inp = torch.where(sel_m & (r2 < 0.8), torch.full_like(ids, mask_id), ids)
        rnd = torch.randint(5, tok.get_vocab_size(), ids.shape, generator=gen, device=device)
        inp = torch.where(sel_m & (r2 >= 0.8) & (r2 < 0.9), rnd, inp)
        frac = min(1.0, (elapsed() - t_start) / budget)
        lr = MLM_LR * min(1.0, (step + 1) / MLM_WARMUP) * max(0.02, 1.0 - frac)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out = mlm_model(input_ids=inp, labels=labels_t)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(mlm_model.parameters(), 1.0)
        opt.step()
        step += 1
        seen_rows += MLM_BATCH
        if step % 20 == 0 or args.smoke:
            loss_acc += out.loss.item()
            loss_n += 1
        now = elapsed()
        if now >= next_report:
            rec = {"t": round(now, 1), "step": step, "epochs": round(seen_rows / n_rows, 2),
                   "mlm_loss": round(loss_acc / max(1, loss_n), 4), "lr": lr}
            history.append(rec)
            log("mlm step %d epochs %.2f loss %.4f lr %.2e (%.1f steps/s)" % (
                step, rec["epochs"], rec["mlm_loss"], lr, step / (now - t_start)))
            loss_acc, loss_n = 0.0, 0
            next_report = now + 30
        if now >= next_outliers:
            rows = hb.outlier_stats(mlm_model.roberta, probe, device, pad_id=pad_id)
            outlier_history.append({"step": step, "t": round(now, 1),
                                    "max_ratio": max(r["ratio"] for r in rows),
                                    "max_abs": max(r["max"] for r in rows)})
            log("outliers at step %d: largest ratio %.1f, largest max|x| %.2f" % (
                step, outlier_history[-1]["max_ratio"], outlier_history[-1]["max_abs"]))
            write_json(os.path.join(args.out, "outliers.json"), {"history": outlier_history})
            next_outliers = now + 60
    pre_rows = hb.outlier_stats(mlm_model.roberta, probe, device, pad_id=pad_id)
    hb.log_outliers("after pretraining (%d steps, %.1f epochs)" % (step, seen_rows / n_rows), pre_rows)
    metrics = {"model": "roberta6-hard", "seed": SEED, "versions": versions, "labels": labels,
               "params_mlm": n_params, "mlm_steps": step, "mlm_seconds": round(elapsed() - t_start, 1),
               "mlm_epochs": round(seen_rows / n_rows, 2), "mlm_rows": n_rows, "mlm_tokens": len(stream),
               "mlm_history": history, "mlm_batch": MLM_BATCH, "mlm_lr": MLM_LR}
    write_json(os.path.join(args.out, "outliers.json"), {"history": outlier_history, "after_pretraining": pre_rows})
    write_json(os.path.join(args.out, "metrics.json"), metrics)
    del data, opt

    # ---------------- fine-tuning ----------------
    config_cls = RobertaConfig(**cfg_kwargs, num_labels=len(labels), id2label={i: l for l, i in label2id.items()},
                               label2id=dict(label2id), problem_type="single_label_classification")
    torch.manual_seed(SEED + 2)
    model = RobertaForSequenceClassification(config_cls).to(device)
    missing, unexpected = model.roberta.load_state_dict(mlm_model.roberta.state_dict(), strict=False)
    log("fine-tune init from the MLM encoder; missing %s unexpected %s" % (missing, unexpected))
    del mlm_model
    opt = torch.optim.AdamW(param_groups(model), lr=FT_LR, fused=device.type == "cuda")
    t_ft = elapsed()
    ft_budget = FINETUNE_END - t_ft
    step, ep = 0, 0
    ft_hist = []

    @torch.no_grad()
    def predict(m, id_lists, dev, bs=256, autocast=True):
        m.eval()
        outs = []
        idx = sorted(range(len(id_lists)), key=lambda i: len(id_lists[i]))
        for i in range(0, len(idx), bs):
            chunk = idx[i:i + bs]
            ids, am = pad([id_lists[j] for j in chunk], dev)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=autocast and dev.type == "cuda"):
                lg = m(input_ids=ids, attention_mask=am).logits.float().cpu()
            outs.append((chunk, lg))
        res = torch.zeros(len(id_lists), len(labels))
        for chunk, lg in outs:
            res[chunk] = lg
        m.train()
        return res.numpy()

    stop = False
    while not stop and ep < 4:
        model.train()
        order = list(range(len(ft_ids)))
        random.Random(SEED * 10 + ep).shuffle(order)
        tl, tc, tn = 0.0, 0, 0
        for b in range(0, len(order), FT_BATCH):
            frac = min(1.0, (elapsed() - t_ft) / ft_budget)
            if frac >= 1.0:
                stop = True
                break
            lr = FT_LR * min(1.0, (step + 1) / FT_WARMUP) * max(0.0, 1.0 - frac)
            for g in opt.param_groups:
                g["lr"] = lr
            idx = order[b:b + FT_BATCH]
            ids, am = pad([ft_ids[i] for i in idx], device)
            y = torch.from_numpy(ft_y[idx]).to(device)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                out = model(input_ids=ids, attention_mask=am, labels=y)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 10 == 0 or args.smoke:
                tl += out.loss.item() * len(idx)
                tc += (out.logits.argmax(-1) == y).sum().item()
                tn += len(idx)
        ep += 1
        acc = float((predict(model, evall_ids, device).argmax(-1) == evall_y).mean())
        ft_hist.append({"epoch": ep, "steps": step, "train_loss": round(tl / max(1, tn), 4),
                        "train_acc": round(tc / max(1, tn), 4), "eval_split_acc": round(acc, 4)})
        log("fine-tune epoch %d (%d steps, %s) loss %.4f train_acc %.4f eval-split acc %.4f" % (
            ep, step, "stopped at deadline" if stop else "full", tl / max(1, tn), tc / max(1, tn), acc))
    metrics.update({"finetune_history": ft_hist, "finetune_steps": step, "finetune_train_size": len(ft_ids),
                    "finetune_seconds": round(elapsed() - t_ft, 1), "eval_split_size": len(ev_all)})
    ft_rows = hb.outlier_stats(model.roberta, probe, device, pad_id=pad_id)
    hb.log_outliers("after fine-tuning", ft_rows)
    write_json(os.path.join(args.out, "outliers.json"),
               {"history": outlier_history, "after_pretraining": pre_rows, "after_finetuning": ft_rows})

    # ---------------- fp16 HF folder ----------------
    model = model.to("cpu").eval()
    model.half()
    model.save_pretrained(mdir)
    for f in sorted(os.listdir(mdir)):
        log("   model/%s %d" % (f, os.path.getsize(os.path.join(mdir, f))))
    del model
    write_json(os.path.join(args.out, "metrics.json"), metrics)

    # ---------------- references from the saved folder (fp16 weights cast to float32) ----------------
    from tokenizers import Tokenizer
    tok2 = Tokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
    scored = evalset[:300] if args.smoke else evalset
    ev_ids = [e.ids for e in tok2.encode_batch([r["text"] for r in scored])]
    ev_y = np.array([label2id[r["label"]] for r in scored])
    ref_model = RobertaForSequenceClassification.from_pretrained(mdir, attn_implementation="eager").float().eval()
    items = []
    with torch.no_grad():
        for i in range(min(N_REFERENCE, len(evalset))):
            ids = torch.tensor([ev_ids[i]])
            lg = ref_model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0].numpy()
            items.append({"label": evalset[i]["label"], "ids": ev_ids[i], "logits": [round(float(v), 6) for v in lg]})
    write_json(os.path.join(args.out, "reference.json"), {
        "description": "The first %d texts of eval.jsonl: PyTorch float32 CPU logits (eager attention, weights as "
                       "stored in fp16 model.safetensors and cast to float32), one text at a time (batch 1, no "
                       "padding, attention_mask 1), rounded to 6 decimals, with the token ids of the tokenizers "
                       "library." % len(items),
        "labels": labels, "versions": versions, "items": items})
    log("reference.json: %d texts" % len(items))
    # every eval text, float32 (TF32 off) on the GPU in padded batches: accuracy and top-1 margins
    torch.backends.cuda.matmul.allow_tf32 = False
    gmodel = ref_model.to(device)
    all_logits = predict(gmodel, ev_ids, device, autocast=False)
    ref_cpu = np.array([it["logits"] for it in items])
    gpu_vs_cpu = float(np.abs(all_logits[:len(items)] - ref_cpu).max())
    gmodel.to("cpu")
    pred = all_logits.argmax(-1)
    acc = float((pred == ev_y).mean())
    top2 = np.sort(all_logits, axis=1)
    margin = top2[:, -1] - top2[:, -2]
    per_label = {l: round(float((pred[ev_y == i] == i).mean()), 4) for i, l in enumerate(labels)}
    conf = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(ev_y, pred):
        conf[t, p] += 1
    log("float32 accuracy on eval.jsonl (%d): %.4f; per label %s; padded-batch GPU vs batch-1 CPU max|d| %.2e" % (
        len(scored), acc, per_label, gpu_vs_cpu))
    log("top-1 margin: p10 %.3f p50 %.3f; %d texts below 0.5, %d below 0.1" % (
        np.percentile(margin, 10), np.median(margin), int((margin < 0.5).sum()), int((margin < 0.1).sum())))
    metrics.update({"eval_size": len(scored), "eval_accuracy_fp32": acc, "eval_accuracy_per_label": per_label,
                    "eval_confusion": conf.tolist(), "eval_gpu_vs_cpu_max_abs": gpu_vs_cpu,
                    "margin_p10": round(float(np.percentile(margin, 10)), 4),
                    "margin_p50": round(float(np.median(margin)), 4),
                    "margin_below_0.5": int((margin < 0.5).sum()), "margin_below_0.1": int((margin < 0.1).sum())})
    write_json(os.path.join(args.out, "metrics.json"), metrics)
    log("fixtures written")

    # ---------------- ONNX checks (files stay here; export_roberta.py makes the shipped ones) ----------------
    if elapsed() > EXPORT_LATEST_START:
        log("no time left for the ONNX checks")
        return
    try:
        metrics["onnx_device"] = onnx_checks(ref_model, ev_ids[:N_REFERENCE], ref_cpu, pad_id, args.smoke)
    except Exception:
        log("ONNX checks FAILED\n" + traceback.format_exc())
    write_json(os.path.join(args.out, "metrics.json"), metrics)


def onnx_checks(model, ids_list, ref, pad_id, smoke):
    import onnxruntime as ort
    tmp = "/tmp/roberta6-onnx"
    os.makedirs(tmp, exist_ok=True)
    res = {}
    so = ort.SessionOptions()
    so.intra_op_num_threads = 4 if not smoke else 2
    ex = hb.pad_batch([ids_list[0], ids_list[1][:5]], "cpu", pad_id)
    wrap = Logits(model).eval()

    def check(name, path):
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        one = np.array([s.run(["logits"], {"input_ids": np.array([x], dtype=np.int64),
                                           "attention_mask": np.ones((1, len(x)), dtype=np.int64)})[0][0]
                        for x in ids_list])
        ids, am = hb.pad_batch(ids_list, "cpu", pad_id)
        batched = s.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": am.numpy()})[0]
        res[name] = {"size": os.path.getsize(path), "batch1_max_abs": float(np.abs(one - ref).max()),
                     "padded_batch_max_abs": float(np.abs(batched - ref).max())}
        log("ONNX %s: %d bytes; vs PyTorch batch 1 max|d| %.2e, one padded batch of %d max|d| %.2e" % (
            name, res[name]["size"], res[name]["batch1_max_abs"], len(ids_list), res[name]["padded_batch_max_abs"]))

    t = time.time()
    path = os.path.join(tmp, "model.onnx")
    torch.onnx.export(wrap, ex, path, dynamo=False, opset_version=17, input_names=["input_ids", "attention_mask"],
                      output_names=["logits"], do_constant_folding=True,
                      dynamic_axes={k: {0: "batch", 1: "sequence"} for k in ("input_ids", "attention_mask")})
    log("TorchScript export %.1fs" % (time.time() - t))
    check("torchscript", path)
    if elapsed() > DYNAMO_LATEST_START:
        log("no time left for the dynamo export")
        return res
    t = time.time()
    from torch.export import Dim
    b, s = Dim("batch", min=1, max=1024), Dim("sequence", min=1, max=MAX_LEN)
    path = os.path.join(tmp, "model.dynamo.onnx")
    try:
        torch.onnx.export(wrap, ex, path, dynamo=True, opset_version=17, input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], dynamic_shapes=({0: b, 1: s}, {0: b, 1: s}),
                          external_data=False, report=False, verify=False)
        log("dynamo export %.1fs" % (time.time() - t))
        check("dynamo", path)
    except Exception as e:
        res["dynamo"] = {"error": repr(e)[:1500]}
        log("dynamo export failed: %s" % repr(e)[:1500])
    return res


if __name__ == "__main__":
    main()
