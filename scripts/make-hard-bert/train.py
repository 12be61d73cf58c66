#!/usr/bin/env python3
"""Pretrain (masked-language modelling) and fine-tune models/bert6-hard on the GPU machine.

A 6-layer, hidden-384 BERT whose LayerNorm outputs grow outlier channels during MLM pretraining,
the property that makes per-tensor static INT8 of the MatMuls that read them hard (Kovaleva et
al. 2021, "BERT Busters"; Bondarenko et al. 2021, "Understanding and Overcoming the Challenges of
Efficient Transformer Quantization"). The shipped bert-langid model is too easy to show it.

Input: the corpus written by extract_corpus.py (one xz JSON-lines file; documents with a label,
a package and a train/eval split). Everything runs against wall-clock deadlines counted from
$JOB_T0 (the job's start), because the device job is killed at 7 minutes:
  tokenizer + data  -> pretraining until PRETRAIN_END -> fine-tuning until FINETUNE_END
  -> fp16 HF folder, eval/calib texts, fp32 reference logits, outlier statistics
  -> (if time is left) onnxruntime anchors: quantize_dynamic and quantize_static agreements.
Outputs go to --out as they are made.

Usage: python3 scripts/make-hard-bert/train.py --corpus PATH.jsonl.xz --out DIR
"""
import argparse
import collections
import json
import lzma
import math
import os
import platform
import random
import sys
import time
import traceback

T0 = float(os.environ.get("JOB_T0") or time.time())

import numpy as np

try:
    import torch
except ImportError:   # the data preparation (--dry-run) runs without torch
    torch = None

SEED = 20261201
MAX_LEN = 128
VOCAB_SIZE = 8000
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# deadlines in seconds after JOB_T0 (the job is killed at 420)
PRETRAIN_END = float(os.environ.get("PRETRAIN_END", 268))
FINETUNE_END = float(os.environ.get("FINETUNE_END", 328))
ANCHORS_LATEST_START = float(os.environ.get("ANCHORS_LATEST_START", 372))
MLM_BATCH = 256
MLM_LR = 7e-4
MLM_WARMUP = 300
FT_BATCH = 64
FT_LR = 1e-4
FT_CAP_PER_LABEL = 5000
N_EVAL_PER_LABEL = 85     # 7 labels -> 595 eval texts
N_CALIB = 64
N_PROBE = 96              # sequences the outlier statistics are measured on


def log(*a):
    print("[%6.1fs]" % (time.time() - T0), *a, flush=True)


def elapsed():
    return time.time() - T0


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"text": r["text"], "label": r["label"]}, ensure_ascii=False) + "\n")


def build_tokenizer(texts):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##",
                                     max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=True, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIALS,
                                        limit_alphabet=120, continuing_subword_prefix="##",
                                        show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    tok.enable_truncation(max_length=MAX_LEN)
    tok.no_padding()
    return tok


def save_tokenizer(tok, mdir):
    try:
        from transformers import PreTrainedTokenizerFast as Fast
    except ImportError:
        from transformers import TokenizersBackend as Fast
    try:
        hf = Fast(tokenizer_object=tok, model_max_length=MAX_LEN, padding_side="right",
                  truncation_side="right", unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                  sep_token="[SEP]", mask_token="[MASK]",
                  model_input_names=["input_ids", "token_type_ids", "attention_mask"])
        hf.save_pretrained(mdir)
    except Exception:
        log("transformers tokenizer save failed (tokenizer.json still written)\n" + traceback.format_exc())
    if os.path.exists(os.path.join(mdir, "chat_template.jinja")):
        os.remove(os.path.join(mdir, "chat_template.jinja"))
    tok.save(os.path.join(mdir, "tokenizer.json"))
    inv = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    assert [i for _, i in inv] == list(range(len(inv))), "vocab ids not dense"
    with open(os.path.join(mdir, "vocab.txt"), "w", encoding="utf-8") as f:
        for t, _ in inv:
            f.write(t + "\n")


def pad_batch(id_lists, device, pad_id=0):
    L = max(len(x) for x in id_lists)
    ids = np.full((len(id_lists), L), pad_id, dtype=np.int64)
    am = np.zeros((len(id_lists), L), dtype=np.int64)
    for i, x in enumerate(id_lists):
        ids[i, :len(x)] = x
        am[i, :len(x)] = 1
    return torch.from_numpy(ids).to(device), torch.from_numpy(am).to(device)


def layernorms(bert):
    out = [("embeddings", bert.embeddings.LayerNorm)]
    for i, layer in enumerate(bert.encoder.layer):
        out.append(("layer%d.attention" % i, layer.attention.output.LayerNorm))
        out.append(("layer%d.output" % i, layer.output.LayerNorm))
    return out


def outlier_stats(bert, probe, device, autocast=True, pad_id=0):
    """Per LayerNorm output: max |activation| per channel over the probe's real tokens; the
    largest channel against the median channel is the outlier magnitude. `bert`: a BertModel or
    a RobertaModel (the same LayerNorm layout); pad_id: the id padding is written with (RoBERTa's
    position ids skip it)."""
    with torch.no_grad():
        return _outlier_stats(bert, probe, device, autocast, pad_id)


def _outlier_stats(bert, probe, device, autocast, pad_id=0):
    was = bert.training
    bert.eval()
    acc = {}
    hooks = []
    mask_holder = {}

    def hook(name):
        def f(_m, _i, out):
            x = out.float().abs()
            m = mask_holder["m"].unsqueeze(-1)
            x = torch.where(m, x, torch.zeros_like(x)).amax(dim=(0, 1))
            acc[name] = torch.maximum(acc[name], x) if name in acc else x
        return f

    for name, ln in layernorms(bert):
        hooks.append(ln.register_forward_hook(hook(name)))
    try:
        for i in range(0, len(probe), 32):
            ids, am = pad_batch(probe[i:i + 32], device, pad_id)
            mask_holder["m"] = am.bool()
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=autocast and device.type == "cuda"):
                bert(input_ids=ids, attention_mask=am, token_type_ids=torch.zeros_like(ids))
    finally:
        for h in hooks:
            h.remove()
    bert.train(was)
    rows = []
    for name, ln in layernorms(bert):
        v = acc[name].cpu().numpy()
        gamma = ln.weight.detach().float().abs().cpu().numpy()
        med = float(np.median(v))
        top = np.argsort(-v)[:3]
        rows.append({"layernorm": name, "max": round(float(v.max()), 4), "median": round(med, 4),
                     "ratio": round(float(v.max()) / max(med, 1e-9), 2),
                     "top_channels": [int(c) for c in top], "top_values": [round(float(v[c]), 3) for c in top],
                     "channels_over_6x_median": int((v > 6 * med).sum()),
                     "gamma_at_top": [round(float(gamma[c]), 3) for c in top],
                     "gamma_median": round(float(np.median(gamma)), 3)})
    return rows


def log_outliers(tag, rows):
    log("outliers %s: per LayerNorm output max|x| / median-channel max|x| (top channels)" % tag)
    for r in rows:
        log("   %-20s max %8.3f median %6.3f ratio %7.2f channels %s >6x: %d; |gamma| there %s (median %.3f)" % (
            r["layernorm"], r["max"], r["median"], r["ratio"], r["top_channels"], r["channels_over_6x_median"],
            r["gamma_at_top"], r["gamma_median"]))


def load_corpus(path):
    """The corpus written by extract_corpus.py: its documents and the sorted label names."""
    with lzma.open(path, "rt", encoding="utf-8") as f:
        docs = [json.loads(l) for l in f if l.strip()]
    return docs, sorted(set(d["l"] for d in docs))


def select_texts(docs, labels, seed, n_eval_per_label=N_EVAL_PER_LABEL, n_calib=N_CALIB, ft_cap=FT_CAP_PER_LABEL):
    """Labelled paragraphs: evaluation texts from held-out packages (round-robin over the packages of
    each label, n_eval_per_label each, then shuffled), calibration texts from training packages but
    kept out of fine-tuning, and the fine-tuning set (at most ft_cap per label). Seeds the global
    random and numpy generators as the shipped run did; returns the Random it used (main samples the
    outlier probe from it next). heldout.py repeats this order of random calls for seed SEED."""
    train_docs = [d for d in docs if d["s"] == "train"]
    eval_docs = [d for d in docs if d["s"] == "eval"]
    random.seed(seed)
    np.random.seed(seed)
    rng = random.Random(seed)
    tr_by_label = collections.defaultdict(list)
    for d in train_docs:
        for p in d["p"]:
            tr_by_label[d["l"]].append({"text": p, "label": d["l"], "group": d["g"]})
    ev_by_label_pkg = collections.defaultdict(lambda: collections.defaultdict(list))
    for d in eval_docs:
        for p in d["p"]:
            ev_by_label_pkg[d["l"]][d["g"]].append({"text": p, "label": d["l"], "group": d["g"]})
    evalset = []
    for lab in labels:
        pk = ev_by_label_pkg[lab]
        queues = {g: rng.sample(v, len(v)) for g, v in sorted(pk.items())}
        picked = []
        while len(picked) < n_eval_per_label and any(queues.values()):
            for g in sorted(queues):
                if queues[g] and len(picked) < n_eval_per_label:
                    picked.append(queues[g].pop())
        evalset.extend(picked)
    rng.shuffle(evalset)
    calib, ft_train = [], []
    per_cal = [n_calib // len(labels) + (1 if i < n_calib % len(labels) else 0) for i in range(len(labels))]
    for i, lab in enumerate(labels):
        pool = rng.sample(tr_by_label[lab], len(tr_by_label[lab]))
        calib.extend(pool[:per_cal[i]])
        ft_train.extend(pool[per_cal[i]:per_cal[i] + ft_cap])
    rng.shuffle(calib)
    rng.shuffle(ft_train)
    ev_all = [r for lab in labels for g in sorted(ev_by_label_pkg[lab]) for r in ev_by_label_pkg[lab][g]]
    assert not (set(r["group"] for r in evalset) & set(r["group"] for r in ft_train)), "package leak"
    assert not (set(r["group"] for r in evalset) & set(r["group"] for r in calib)), "package leak"
    return {"train_docs": train_docs, "eval_docs": eval_docs, "evalset": evalset, "calib": calib,
            "ft_train": ft_train, "ev_all": ev_all, "rng": rng}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dry-run", action="store_true", help="data preparation only (no torch work)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    mdir = os.path.join(args.out, "model")
    os.makedirs(mdir, exist_ok=True)

    # ---------------- corpus ----------------
    docs, labels = load_corpus(args.corpus)
    label2id = {l: i for i, l in enumerate(labels)}
    sel = select_texts(docs, labels, SEED)
    train_docs, evalset, calib, ft_train, ev_all, rng = (
        sel[k] for k in ("train_docs", "evalset", "calib", "ft_train", "ev_all", "rng"))
    log("corpus: %d documents, %d train / %d eval; labels %s" % (len(docs), len(train_docs), len(sel["eval_docs"]), labels))
    write_jsonl(os.path.join(args.out, "eval.jsonl"), evalset)
    write_jsonl(os.path.join(args.out, "calib.jsonl"), calib)
    log("eval %d %s; calib %d; fine-tune train %d %s; all eval-split paragraphs %d" % (
        len(evalset), dict(collections.Counter(r["label"] for r in evalset)), len(calib), len(ft_train),
        dict(sorted(collections.Counter(r["label"] for r in ft_train).items())), len(ev_all)))

    if args.dry_run:
        log("dry run: data preparation done")
        return
    import tokenizers
    import transformers
    from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "numpy": np.__version__}
    log("versions", versions)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(4)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log("device", device, torch.cuda.get_device_name(0) if device.type == "cuda" else "")
    torch.backends.cuda.matmul.allow_tf32 = True


    # ---------------- tokenizer ----------------
    tok_texts = [p for d in train_docs for p in d["p"]]
    tok = build_tokenizer(tok_texts)
    log("tokenizer trained: vocab %d on %d paragraphs" % (tok.get_vocab_size(), len(tok_texts)))
    save_tokenizer(tok, mdir)
    cls_id, sep_id, mask_id, pad_id = (tok.token_to_id(t) for t in ("[CLS]", "[SEP]", "[MASK]", "[PAD]"))

    # MLM sequences: the training documents' paragraphs, in a shuffled document order, packed
    # into full 128-token rows ([CLS] 126 tokens [SEP]) so that no step is spent on padding
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
    log("MLM rows %d x %d (%d tokens); unk rate %.5f" % (
        n_rows, MAX_LEN, len(stream), stream.count(tok.token_to_id("[UNK]")) / max(1, len(stream))))
    probe_texts = [r["text"] for r in rng.sample(ev_all, min(N_PROBE, len(ev_all)))]
    probe = [e.ids for e in tok.encode_batch(probe_texts)]
    ft_ids = [e.ids for e in tok.encode_batch([r["text"] for r in ft_train])]
    ft_y = np.array([label2id[r["label"]] for r in ft_train], dtype=np.int64)
    evall_ids = [e.ids for e in tok.encode_batch([r["text"] for r in ev_all])]
    evall_y = np.array([label2id[r["label"]] for r in ev_all], dtype=np.int64)

    # ---------------- MLM pretraining ----------------
    cfg_kwargs = dict(vocab_size=tok.get_vocab_size(), hidden_size=384, num_hidden_layers=6,
                      num_attention_heads=6, intermediate_size=1536, max_position_embeddings=MAX_LEN,
                      type_vocab_size=2, pad_token_id=pad_id, hidden_act="gelu", layer_norm_eps=1e-12)
    config = BertConfig(**cfg_kwargs)
    torch.manual_seed(SEED)
    mlm_model = BertForMaskedLM(config).to(device)
    mlm_model.train()
    n_params = sum(p.numel() for p in mlm_model.parameters())
    log("MLM model params %d" % n_params)
    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    groups = [
        {"params": [p for n, p in mlm_model.named_parameters() if not any(k in n for k in no_decay)], "weight_decay": 0.01},
        {"params": [p for n, p in mlm_model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=MLM_LR, betas=(0.9, 0.98), eps=1e-6, fused=device.type == "cuda")
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
    history = []
    outlier_history = []
    loss_acc, loss_n = 0.0, 0
    next_report = t_start + 30
    next_outliers = t_start + 60
    while elapsed() < PRETRAIN_END:
        if pos + MLM_BATCH > n_rows:
            perm = torch.randperm(n_rows, generator=gen, device=device)
            pos = 0
        ids = data[perm[pos:pos + MLM_BATCH]]
        pos += MLM_BATCH
        # BERT masking: 15% of the real tokens; of those 80% [MASK], 10% random, 10% kept
        r = torch.rand(ids.shape, generator=gen, device=device)
        sel = (r < 0.15) & ~special[ids]
        labels_t = torch.where(sel, ids, torch.full_like(ids, -100))
        r2 = torch.rand(ids.shape, generator=gen, device=device)
        inp = torch.where(sel & (r2 < 0.8), torch.full_like(ids, mask_id), ids)
        rnd = torch.randint(5, tok.get_vocab_size(), ids.shape, generator=gen, device=device)
        inp = torch.where(sel & (r2 >= 0.8) & (r2 < 0.9), rnd, inp)
        frac = min(1.0, (elapsed() - t_start) / budget)
        lr = MLM_LR * min(1.0, (step + 1) / MLM_WARMUP) * max(0.02, 1.0 - frac)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out = mlm_model(input_ids=inp, token_type_ids=torch.zeros_like(inp), labels=labels_t)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(mlm_model.parameters(), 1.0)
        opt.step()
        step += 1
        seen_rows += MLM_BATCH
        if step % 20 == 0:
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
            rows = outlier_stats(mlm_model.bert, probe, device)
            outlier_history.append({"step": step, "t": round(now, 1),
                                    "max_ratio": max(r["ratio"] for r in rows),
                                    "max_abs": max(r["max"] for r in rows)})
            log("outliers at step %d: largest ratio %.1f, largest max|x| %.2f" % (
                step, outlier_history[-1]["max_ratio"], outlier_history[-1]["max_abs"]))
            write_json(os.path.join(args.out, "outliers.json"), {"history": outlier_history})
            next_outliers = now + 60
    pre_rows = outlier_stats(mlm_model.bert, probe, device)
    log_outliers("after pretraining (%d steps, %.1f epochs)" % (step, seen_rows / n_rows), pre_rows)
    metrics = {"versions": versions, "labels": labels, "params_mlm": n_params, "mlm_steps": step,
               "mlm_epochs": round(seen_rows / n_rows, 2), "mlm_rows": n_rows, "mlm_history": history,
               "mlm_batch": MLM_BATCH, "mlm_lr": MLM_LR}
    write_json(os.path.join(args.out, "outliers.json"), {"history": outlier_history, "after_pretraining": pre_rows})
    write_json(os.path.join(args.out, "metrics.json"), metrics)
    del data, opt

    # ---------------- fine-tuning ----------------
    config_cls = BertConfig(**cfg_kwargs, num_labels=len(labels), id2label={i: l for l, i in label2id.items()},
                            label2id=dict(label2id), problem_type="single_label_classification")
    torch.manual_seed(SEED + 2)
    model = BertForSequenceClassification(config_cls).to(device)
    missing, unexpected = model.bert.load_state_dict(mlm_model.bert.state_dict(), strict=False)
    log("fine-tune init from MLM encoder; missing %s unexpected %s" % (missing, unexpected))
    del mlm_model
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)], "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=FT_LR, fused=device.type == "cuda")
    t_ft = elapsed()
    ft_budget = FINETUNE_END - t_ft
    steps_per_epoch = math.ceil(len(ft_ids) / FT_BATCH)
    step, ep = 0, 0
    ft_hist = []

    @torch.no_grad()
    def predict(m, id_lists, dev, bs=256, autocast=True):
        m.eval()
        outs = []
        idx = sorted(range(len(id_lists)), key=lambda i: len(id_lists[i]))
        for i in range(0, len(idx), bs):
            chunk = idx[i:i + bs]
            ids, am = pad_batch([id_lists[j] for j in chunk], dev)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=autocast and dev.type == "cuda"):
                lg = m(input_ids=ids, attention_mask=am, token_type_ids=torch.zeros_like(ids)).logits.float().cpu()
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
            lr = FT_LR * min(1.0, (step + 1) / 100) * max(0.0, 1.0 - frac)
            for g in opt.param_groups:
                g["lr"] = lr
            idx = order[b:b + FT_BATCH]
            ids, am = pad_batch([ft_ids[i] for i in idx], device)
            y = torch.from_numpy(ft_y[idx]).to(device)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                out = model(input_ids=ids, attention_mask=am, token_type_ids=torch.zeros_like(ids), labels=y)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 10 == 0:
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
                    "eval_split_size": len(ev_all)})
    ev_logits = predict(model, evall_ids, device)
    pred = ev_logits.argmax(-1)
    conf = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(evall_y, pred):
        conf[t, p] += 1
    log("confusion on the eval split (rows true, cols pred)", labels)
    for i, l in enumerate(labels):
        log("   %-12s %s acc %.3f" % (l, " ".join("%5d" % v for v in conf[i]), conf[i, i] / max(1, conf[i].sum())))
    metrics["confusion_eval_split"] = conf.tolist()
    ft_rows = outlier_stats(model.bert, probe, device)
    log_outliers("after fine-tuning", ft_rows)
    write_json(os.path.join(args.out, "outliers.json"),
               {"history": outlier_history, "after_pretraining": pre_rows, "after_finetuning": ft_rows})

    # ---------------- export: fp16 HF folder ----------------
    model = model.to("cpu").eval()
    model.half()
    try:
        model.save_pretrained(mdir, safe_serialization=True)
    except TypeError:
        model.save_pretrained(mdir)
    for f in sorted(os.listdir(mdir)):
        log("   model/%s %d" % (f, os.path.getsize(os.path.join(mdir, f))))
    del model
    ref_model = BertForSequenceClassification.from_pretrained(mdir, attn_implementation="eager").float().eval()
    from tokenizers import Tokenizer
    tok2 = Tokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
    ev_ids = [e.ids for e in tok2.encode_batch([r["text"] for r in evalset])]
    ev_y = np.array([label2id[r["label"]] for r in evalset])
    items = []
    with torch.no_grad():
        for i, r in enumerate(evalset):
            ids = torch.tensor([ev_ids[i]])
            lg = ref_model(input_ids=ids, attention_mask=torch.ones_like(ids),
                           token_type_ids=torch.zeros_like(ids)).logits[0].numpy()
            items.append({"label": r["label"], "logits": [round(float(v), 6) for v in lg]})
            if i < 16:
                items[-1]["ids"] = ev_ids[i]
    ref_logits = np.array([it["logits"] for it in items])
    pt_acc = float((ref_logits.argmax(-1) == ev_y).mean())
    log("PyTorch CPU fp32 (fp16 weights) eager, batch 1: accuracy on eval.jsonl (%d) %.4f" % (len(evalset), pt_acc))
    margins = np.sort(ref_logits, axis=1)
    margin = margins[:, -1] - margins[:, -2]
    log("top-1 margin: p10 %.3f p50 %.3f; %d texts below 0.5" % (
        np.percentile(margin, 10), np.median(margin), int((margin < 0.5).sum())))
    write_json(os.path.join(args.out, "reference.json"), {
        "description": "eval.jsonl in order: PyTorch float32 CPU logits (eager attention, weights as stored "
                       "in fp16 model.safetensors and cast to float32), one text at a time (batch 1, no "
                       "padding, attention_mask 1, token_type_ids 0), rounded to 6 decimals; token ids of "
                       "the first 16 from the tokenizers library.",
        "labels": labels, "eval_accuracy_pytorch": pt_acc, "versions": versions, "items": items})
    metrics.update({"eval_accuracy_pytorch": pt_acc, "eval_size": len(evalset),
                    "margin_p10": float(np.percentile(margin, 10)), "margin_p50": float(np.median(margin))})
    write_json(os.path.join(args.out, "metrics.json"), metrics)
    log("fixtures written")

    # ---------------- onnxruntime anchors (optional, if time is left) ----------------
    if elapsed() > ANCHORS_LATEST_START:
        log("no time left for the onnxruntime anchors")
        return
    try:
        anchors(ref_model, tok2, calib, ev_ids, ref_logits, ev_y, args.out, metrics)
    except Exception:
        log("anchors FAILED\n" + traceback.format_exc())


def anchors(ref_model, tok, calib, ev_ids, ref_logits, ev_y, out_dir, metrics):
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)
    tmp = "/tmp/q2-hardbert-onnx"
    os.makedirs(tmp, exist_ok=True)
    fp32 = os.path.join(tmp, "model.onnx")

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    ex = pad_batch([ev_ids[0], ev_ids[1][:5]], "cpu")
    ex = (ex[0], ex[1], torch.zeros_like(ex[0]))
    dyn = {k: {0: "batch", 1: "sequence"} for k in ("input_ids", "attention_mask", "token_type_ids")}
    torch.onnx.export(Wrap(ref_model).eval(), ex, fp32, dynamo=False, opset_version=17,
                      input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
                      dynamic_axes=dyn, do_constant_folding=True)
    for f in os.listdir(tmp):
        if f.endswith(".data"):
            log("anchors: external data written", f)
    log("anchors: exported torchscript ONNX")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 4

    def run(path):
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        res = []
        for ids in ev_ids:
            a = np.array([ids], dtype=np.int64)
            res.append(s.run(["logits"], {"input_ids": a, "attention_mask": np.ones_like(a),
                                          "token_type_ids": np.zeros_like(a)})[0][0])
        return np.array(res)

    base = run(fp32)
    res = {"ort_fp32_vs_pytorch_max_abs": float(np.abs(base - ref_logits).max())}
    log("anchors: ORT fp32 vs PyTorch max|d| %.3g" % res["ort_fp32_vs_pytorch_max_abs"])
    calib_ids = [e.ids for e in tok.encode_batch([r["text"] for r in calib])]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calib_ids)

        def get_next(self):
            # One shape for every sample (padded to MAX_LEN, mask 0 on the padding): onnxruntime's
            # histogram calibrators stack what they collect, and variable lengths made Entropy fail
            # ("inhomogeneous shape") in the run that made the shipped model.
            ids = next(self.it, None)
            if ids is None:
                return None
            a = np.zeros((1, MAX_LEN), dtype=np.int64)
            m = np.zeros((1, MAX_LEN), dtype=np.int64)
            a[0, :len(ids)] = ids
            m[0, :len(ids)] = 1
            return {"input_ids": a, "attention_mask": m, "token_type_ids": np.zeros_like(a)}

    def score(name, path):
        lg = run(path)
        res[name] = {"agreement": float((lg.argmax(-1) == base.argmax(-1)).mean()),
                     "accuracy": float((lg.argmax(-1) == ev_y).mean()),
                     "max_abs_logit_diff": float(np.abs(lg - base).max())}
        log("anchors: %-40s agreement %.4f accuracy %.4f max|d| %.3f" % (
            name, res[name]["agreement"], res[name]["accuracy"], res[name]["max_abs_logit_diff"]))
        write_json(os.path.join(out_dir, "anchors.json"), res)

    dq = os.path.join(tmp, "dyn.onnx")
    quantize_dynamic(fp32, dq, weight_type=QuantType.QInt8, per_channel=True)
    score("ort_quantize_dynamic_qint8_per_channel", dq)
    for meth, extra in ((CalibrationMethod.MinMax, {}), (CalibrationMethod.Entropy, {}),
                        (CalibrationMethod.Percentile, {"CalibPercentile": 99.99})):
        if elapsed() > 405:
            log("anchors: out of time before", meth)
            break
        sq = os.path.join(tmp, "static-%s.onnx" % meth.name)
        quantize_static(fp32, sq, Reader(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["MatMul", "Gemm"],
                        per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=meth,
                        extra_options=dict(extra, ActivationSymmetric=True, WeightSymmetric=True))
        score("ort_quantize_static_qdq_matmul_%s" % meth.name.lower(), sq)


if __name__ == "__main__":
    main()
