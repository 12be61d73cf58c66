#!/usr/bin/env python3
"""Build tests/fixtures/zoo: tiny, briefly trained Hugging Face models of several architectures,
each exported to ONNX by both PyTorch exporters, with reference outputs.

Text models (sequence classification, 9-language ID, corpus of scripts/make-model):
  bert, distilbert, electra, mpnet (WordPiece), roberta (byte-level BPE),
  xlm-roberta, albert, deberta-v2 (Unigram)
Vision models (image classification, synthetic 32x32 shapes, 4 classes): vit, resnet

Runs on the GPU machine (Python 3.12, torch 2.11, transformers 5, tokenizers, onnx, onnxscript,
onnxruntime; no network). Training runs on the GPU, export and checks on the CPU.
See scripts/make-zoo/README.md for the exact command.

  python3 scripts/make-zoo/make_zoo.py --corpus scripts/make-model/.work/corpus --out /tmp/zoo \
      --tar $OUT/zoo.tar
  python3 scripts/make-zoo/make_zoo.py --data-only --out /tmp/zoo   # numpy only: data files
"""
import argparse
import collections
import json
import math
import os
import platform
import random
import sys
import tarfile
import time
import traceback

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import numpy as np

SEED = 20250101
MAX_LEN = 64                 # tokens, special tokens included
VOCAB = 320                  # all text tokenizers (<= 1000 cap; 320 keeps the zoo under 12 MB)
TRAIN_CAP_PER_LABEL = 5000   # 45k training texts
N_CALIB_TEXT = 64
N_TOK_TRAIN = 20000          # tokenizers are trained on the first 20k training texts
N_HELDOUT = 500              # accuracy is measured on these
N_EVAL_TEXT = 128            # first 128 of the held-out set go to langid-small.jsonl
N_REF_TEXT = 16
N_TRAIN_IMG = 40000
N_CALIB_IMG = 16             # images in shapes-small.jsonl (size budget); --n-calib-img / --n-eval-img
N_EVAL_IMG_FILE = 32
N_EVAL_IMG = 128             # held-out images used for the ORT-vs-PyTorch checks
N_REF_IMG = 8
TEXT_EPOCHS = 2
IMG_EPOCHS = 2
SHAPES = ["circle", "square", "triangle", "stripes"]
ORT_TOL = 1e-4

T0 = time.time()


def log(*a):
    print("[%7.1fs]" % (time.time() - T0), *a, flush=True)


# --------------------------------------------------------------------------- data: text
def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def by_label(rows):
    d = collections.defaultdict(list)
    for r in rows:
        d[r["label"]].append(r)
    for k in d:
        d[k].sort(key=lambda r: (r["text"], r.get("group", "")))
    return dict(sorted(d.items()))


def text_data(corpus):
    train_all = read_jsonl(os.path.join(corpus, "train.jsonl"))
    eval_all = read_jsonl(os.path.join(corpus, "eval.jsonl"))
    tr, ev = by_label(train_all), by_label(eval_all)
    labels = sorted(tr)
    assert labels == sorted(ev), (labels, sorted(ev))
    rng = random.Random(SEED)
    train, calib_pool = [], {}
    for lab in labels:
        pool = list(tr[lab])
        rng.shuffle(pool)
        train.extend(pool[:TRAIN_CAP_PER_LABEL])
        calib_pool[lab] = pool[TRAIN_CAP_PER_LABEL:]
    rng.shuffle(train)
    # calibration: balanced, from the train split but not from the texts the models saw
    calib = []
    per, extra = divmod(N_CALIB_TEXT, len(labels))
    for i, lab in enumerate(labels):
        calib.extend(calib_pool[lab][:per + (1 if i < extra else 0)])
    random.Random(SEED + 1).shuffle(calib)
    # held-out: from the eval split (disjoint message groups), in shuffled blocks of one text per
    # label, so that every prefix (the 128 eval texts, the 16 reference texts) is balanced
    rng2 = random.Random(SEED + 2)
    pools = {}
    for lab in labels:
        pools[lab] = list(ev[lab])
        rng2.shuffle(pools[lab])
    heldout = []
    k = 0
    while len(heldout) < N_HELDOUT:
        block = [pools[lab][k] for lab in labels]
        rng2.shuffle(block)
        heldout.extend(block[:N_HELDOUT - len(heldout)])
        k += 1
    train_texts = set(r["text"] for r in train_all)
    leaks = sum(r["text"] in train_texts for r in heldout)
    return labels, train, calib, heldout, leaks


# --------------------------------------------------------------------------- data: images
_S = 32
_YY, _XX = np.mgrid[0:_S, 0:_S].astype(np.float64) + 0.5


def draw_shape(rng, label):
    """One 3x32x32 float32 image in [0,1], rounded to 3 decimals."""
    bg = rng.uniform(0.0, 1.0, 3)
    gdir = rng.uniform(0, 2 * np.pi)
    gamp = rng.uniform(0.0, 0.25)
    grad = ((_XX - 16) * np.cos(gdir) + (_YY - 16) * np.sin(gdir)) / 16.0 * gamp
    img = bg[:, None, None] + grad[None]
    fg = rng.uniform(0.0, 1.0, 3)
    for _ in range(20):
        if np.abs(fg - bg).sum() > 0.6:
            break
        fg = rng.uniform(0.0, 1.0, 3)
    cx, cy = rng.uniform(9, 23, 2)
    dx, dy = _XX - cx, _YY - cy
    if label == 0:      # circle
        r = rng.uniform(4, 9)
        mask = dx * dx + dy * dy <= r * r
    elif label == 1:    # rotated square
        s = rng.uniform(3.5, 8)
        th = rng.uniform(0, np.pi / 2)
        u = dx * np.cos(th) + dy * np.sin(th)
        v = -dx * np.sin(th) + dy * np.cos(th)
        mask = (np.abs(u) <= s) & (np.abs(v) <= s)
    elif label == 2:    # rotated equilateral triangle
        R = rng.uniform(5, 10.5)
        th = rng.uniform(0, 2 * np.pi)
        ang = th + 2 * np.pi * np.arange(3) / 3
        vx, vy = cx + R * np.cos(ang), cy + R * np.sin(ang)
        e = [(vx[(k + 1) % 3] - vx[k]) * (_YY - vy[k]) - (vy[(k + 1) % 3] - vy[k]) * (_XX - vx[k])
             for k in range(3)]
        mask = ((e[0] >= 0) & (e[1] >= 0) & (e[2] >= 0)) | ((e[0] <= 0) & (e[1] <= 0) & (e[2] <= 0))
    else:               # stripes in a square patch
        h = rng.uniform(6, 11)
        p = rng.uniform(3, 6)
        th = rng.uniform(0, np.pi)
        ph = rng.uniform(0, 2 * np.pi)
        region = np.maximum(np.abs(dx), np.abs(dy)) <= h
        mask = region & (np.sin(2 * np.pi * (dx * np.cos(th) + dy * np.sin(th)) / p + ph) > 0)
    img = np.where(mask[None], fg[:, None, None], img)
    img = img + rng.normal(0, rng.uniform(0.02, 0.1), img.shape)
    return np.round(np.clip(img, 0, 1), 3).astype(np.float32)


def make_images(n, seed, balanced):
    rng = np.random.default_rng(seed)
    if balanced:  # shuffled blocks of one image per class: every prefix is balanced
        labels = np.concatenate([rng.permutation(len(SHAPES)) for _ in range((n + len(SHAPES) - 1) // len(SHAPES))])[:n]
    else:
        labels = rng.integers(0, len(SHAPES), n)
    x = np.stack([draw_shape(rng, int(l)) for l in labels])
    return x, labels.astype(np.int64)


def r3(a):
    return np.round(np.asarray(a, dtype=np.float64), 3).tolist()


def write_data_files(out, calib, heldout, img_calib, img_eval):
    """img_calib / img_eval: (x, y), already cut to the counts that go into the file."""
    os.makedirs(out, exist_ok=True)
    p = os.path.join(out, "langid-small.jsonl")
    with open(p, "w", encoding="utf-8") as f:
        for split, rows in (("calib", calib), ("eval", heldout[:N_EVAL_TEXT])):
            for r in rows:
                f.write(json.dumps({"text": r["text"], "label": r["label"], "split": split},
                                   ensure_ascii=False) + "\n")
    log("wrote", p, os.path.getsize(p), "bytes")
    p = os.path.join(out, "shapes-small.jsonl")
    with open(p, "w", encoding="utf-8") as f:
        for split, (x, y) in (("calib", img_calib), ("eval", img_eval)):
            for i in range(len(y)):
                f.write(json.dumps({"pixel_values": r3(x[i]), "label": SHAPES[int(y[i])], "split": split},
                                   separators=(",", ":")) + "\n")
    log("wrote", p, os.path.getsize(p), "bytes")


# --------------------------------------------------------------------------- tokenizers
TOK_SPECS = {
    # name: model type, special tokens (ids 0..4 in this order), unk, template, hf kwargs
    "wordpiece-bert": dict(
        kind="wordpiece", specials=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], unk="[UNK]",
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", cls="[CLS]", sep="[SEP]",
        hf=dict(unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")),
    "wordpiece-mpnet": dict(
        kind="wordpiece", specials=["<s>", "<pad>", "</s>", "[UNK]", "<mask>"], unk="[UNK]",
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", cls="<s>", sep="</s>",
        hf=dict(bos_token="<s>", eos_token="</s>", unk_token="[UNK]", pad_token="<pad>", cls_token="<s>",
                sep_token="</s>", mask_token="<mask>")),
    "bpe-roberta": dict(
        kind="bpe", specials=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], unk=None,
        cls="<s>", sep="</s>",
        hf=dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>", cls_token="<s>",
                sep_token="</s>", mask_token="<mask>")),
    "unigram-xlmr": dict(
        kind="unigram", lower=False, specials=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], unk="<unk>",
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", cls="<s>", sep="</s>",
        hf=dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>", cls_token="<s>",
                sep_token="</s>", mask_token="<mask>")),
    "unigram-albert": dict(
        kind="unigram", lower=True, specials=["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"], unk="<unk>",
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", cls="[CLS]", sep="[SEP]",
        hf=dict(bos_token="[CLS]", eos_token="[SEP]", unk_token="<unk>", pad_token="<pad>", cls_token="[CLS]",
                sep_token="[SEP]", mask_token="[MASK]")),
    "unigram-deberta": dict(
        kind="unigram", lower=False, specials=["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"], unk="[UNK]",
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", cls="[CLS]", sep="[SEP]",
        hf=dict(bos_token="[CLS]", eos_token="[SEP]", unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                sep_token="[SEP]", mask_token="[MASK]")),
}


def build_tokenizer(spec_name, texts):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    sp = TOK_SPECS[spec_name]
    specials = sp["specials"]
    if sp["kind"] == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token=sp["unk"], continuing_subword_prefix="##",
                                         max_input_chars_per_word=100))
        tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                    strip_accents=False, lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##")
        trainer = trainers.WordPieceTrainer(vocab_size=VOCAB, min_frequency=2, special_tokens=specials,
                                            limit_alphabet=100, continuing_subword_prefix="##",
                                            show_progress=False)
        tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    elif sp["kind"] == "bpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=VOCAB, min_frequency=2, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    else:
        tok = Tokenizer(models.Unigram())
        norms = [normalizers.NFKC()] + ([normalizers.Lowercase()] if sp["lower"] else [])
        tok.normalizer = normalizers.Sequence(norms)
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
        tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
        # The Unigram trainer needs every character of its input in the vocabulary: train on the
        # normalized texts with characters outside the 120 most frequent removed (those become <unk>).
        normed = [tok.normalizer.normalize_str(t) for t in texts]
        cc = collections.Counter()
        for t in normed:
            cc.update(t)
        keep = set(c for c, _ in cc.most_common(120))
        filtered = ["".join(ch for ch in t if ch in keep) for t in normed]
        trainer = trainers.UnigramTrainer(vocab_size=VOCAB, special_tokens=specials, unk_token=sp["unk"],
                                          shrinking_factor=0.75, max_piece_length=12, n_sub_iterations=2,
                                          show_progress=False)
        tok.train_from_iterator(filtered, trainer=trainer, length=len(filtered))
    ids = {s: tok.token_to_id(s) for s in specials}
    assert [ids[s] for s in specials] == list(range(len(specials))), ("special ids", ids)
    if sp["kind"] == "bpe":
        tok.post_processor = processors.RobertaProcessing((sp["sep"], ids[sp["sep"]]), (sp["cls"], ids[sp["cls"]]),
                                                          trim_offsets=True, add_prefix_space=False)
    else:
        tok.post_processor = processors.TemplateProcessing(
            single=sp["single"], pair=sp["pair"],
            special_tokens=[(sp["cls"], ids[sp["cls"]]), (sp["sep"], ids[sp["sep"]])])
    tok.enable_truncation(max_length=MAX_LEN)
    tok.no_padding()
    return tok


def save_tokenizer(tok, spec_name, mdir, input_names):
    """tokenizer.json (the tokenizers-library file, as built) + tokenizer_config.json."""
    from tokenizers import Tokenizer
    sp = TOK_SPECS[spec_name]
    canonical = tok.to_str(pretty=True)
    info = {}
    try:
        try:
            from transformers import PreTrainedTokenizerFast as Fast
        except ImportError:  # transformers 5 name
            from transformers import TokenizersBackend as Fast
        hf = Fast(tokenizer_object=Tokenizer.from_str(canonical), model_max_length=MAX_LEN,
                  padding_side="right", truncation_side="right", model_input_names=list(input_names),
                  **sp["hf"])
        hf.save_pretrained(mdir)
        info["hf_class"] = type(hf).__name__
    except Exception as e:
        log("HF tokenizer wrapper failed, writing tokenizer_config.json by hand:", repr(e))
        cfg = dict(sp["hf"], model_max_length=MAX_LEN, padding_side="right", truncation_side="right",
                   model_input_names=list(input_names), tokenizer_class="PreTrainedTokenizerFast")
        with open(os.path.join(mdir, "tokenizer_config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        info["hf_class"] = "handwritten"
    with open(os.path.join(mdir, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(canonical)
    # keep only the two tokenizer files the zoo promises
    for fn in ("special_tokens_map.json", "vocab.txt", "added_tokens.json", "chat_template.jinja"):
        p = os.path.join(mdir, fn)
        if os.path.exists(p):
            os.remove(p)
    return info


# --------------------------------------------------------------------------- models
def text_specs(n_labels):
    common = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                  vocab_size=VOCAB)
    return [
        dict(name="bert", tok="wordpiece-bert", cls="BertForSequenceClassification", cfg="BertConfig",
             tt=True, args=dict(common, max_position_embeddings=64, type_vocab_size=2, pad_token_id=0)),
        dict(name="distilbert", tok="wordpiece-bert", cls="DistilBertForSequenceClassification",
             cfg="DistilBertConfig", tt=False,
             args=dict(vocab_size=VOCAB, dim=64, n_layers=2, n_heads=4, hidden_dim=128,
                       max_position_embeddings=64, pad_token_id=0)),
        dict(name="electra", tok="wordpiece-bert", cls="ElectraForSequenceClassification", cfg="ElectraConfig",
             tt=True, args=dict(common, embedding_size=32, max_position_embeddings=64, type_vocab_size=2,
                                pad_token_id=0)),
        dict(name="mpnet", tok="wordpiece-mpnet", cls="MPNetForSequenceClassification", cfg="MPNetConfig",
             tt=False, args=dict(common, max_position_embeddings=MAX_LEN + 2, relative_attention_num_buckets=32,
                                 pad_token_id=1, bos_token_id=0, eos_token_id=2)),
        dict(name="roberta", tok="bpe-roberta", cls="RobertaForSequenceClassification", cfg="RobertaConfig",
             tt=False, args=dict(common, max_position_embeddings=MAX_LEN + 2, type_vocab_size=1,
                                 pad_token_id=1, bos_token_id=0, eos_token_id=2)),
        dict(name="xlm-roberta", tok="unigram-xlmr", cls="XLMRobertaForSequenceClassification",
             cfg="XLMRobertaConfig", tt=False,
             args=dict(common, max_position_embeddings=MAX_LEN + 2, type_vocab_size=1,
                       pad_token_id=1, bos_token_id=0, eos_token_id=2)),
        dict(name="albert", tok="unigram-albert", cls="AlbertForSequenceClassification", cfg="AlbertConfig",
             tt=True, args=dict(common, embedding_size=32, num_hidden_groups=1, inner_group_num=1,
                                max_position_embeddings=64, type_vocab_size=2, hidden_act="gelu_new",
                                pad_token_id=0, bos_token_id=2, eos_token_id=3)),
        dict(name="deberta-v2", tok="unigram-deberta", cls="DebertaV2ForSequenceClassification",
             cfg="DebertaV2Config", tt=False,
             args=dict(common, embedding_size=32, max_position_embeddings=64, type_vocab_size=0,
                       relative_attention=True, position_buckets=32, max_relative_positions=-1,
                       pos_att_type=["p2c", "c2p"], position_biased_input=False, norm_rel_ebd="layer_norm",
                       share_att_key=True, pooler_hidden_size=64, pad_token_id=0)),
    ]


def vision_specs():
    return [
        dict(name="vit", cls="ViTForImageClassification", cfg="ViTConfig", lrs=[5e-4, 1e-3, 2e-4],
             args=dict(image_size=32, patch_size=8, num_channels=3, hidden_size=64, num_hidden_layers=2,
                       num_attention_heads=4, intermediate_size=128)),
        dict(name="resnet", cls="ResNetForImageClassification", cfg="ResNetConfig", lrs=[2e-3, 5e-4],
             args=dict(num_channels=3, embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1],
                       layer_type="basic", hidden_act="relu", downsample_in_first_stage=False)),
    ]


def pad_batch(id_lists, pad_id, with_tt):
    L = max(len(x) for x in id_lists)
    ids = np.full((len(id_lists), L), pad_id, dtype=np.int64)
    am = np.zeros((len(id_lists), L), dtype=np.int64)
    for i, x in enumerate(id_lists):
        ids[i, :len(x)] = x
        am[i, :len(x)] = 1
    feeds = {"input_ids": ids, "attention_mask": am}
    if with_tt:
        feeds["token_type_ids"] = np.zeros_like(ids)
    return feeds


def torch_feeds(feeds, device):
    import torch
    return {k: torch.from_numpy(v).to(device) for k, v in feeds.items()}


def lr_lambda(total, warm):
    return lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm))


def train_loop(model, batches_fn, n, epochs, bs, lr, device, tag):
    import torch
    model.to(device).train()
    decay = [p for nm, p in model.named_parameters() if p.ndim >= 2]
    nodecay = [p for nm, p in model.named_parameters() if p.ndim < 2]
    kw = {"fused": True} if device.type == "cuda" else {}
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=lr, **kw)
    steps = math.ceil(n / bs) * epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(steps, max(1, int(0.06 * steps))))
    hist = []
    for ep in range(epochs):
        order = list(range(n))
        random.Random(SEED * 100 + ep).shuffle(order)
        tl, tc, tn = 0.0, 0, 0
        for b in range(0, n, bs):
            idx = order[b:b + bs]
            inputs, y = batches_fn(idx)
            out = model(**inputs, labels=y)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            tl += out.loss.detach().float().item() * len(idx) if (b // bs) % 20 == 0 else 0.0
            tc += int((out.logits.argmax(-1) == y).sum().item()) if (b // bs) % 20 == 0 else 0
            tn += len(idx) if (b // bs) % 20 == 0 else 0
        hist.append({"epoch": ep + 1, "train_loss_sampled": tl / max(1, tn), "train_acc_sampled": tc / max(1, tn)})
        log("  %s epoch %d loss %.4f acc %.4f (every 20th batch)" % (tag, ep + 1, tl / max(1, tn), tc / max(1, tn)))
    return hist


# --------------------------------------------------------------------------- ONNX
def make_wrapper(model, input_names):
    import torch

    if input_names == ["input_ids", "attention_mask", "token_type_ids"]:
        class W(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.m(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).logits
    elif input_names == ["input_ids", "attention_mask"]:
        class W(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask):
                return self.m(input_ids=input_ids, attention_mask=attention_mask).logits
    else:
        class W(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, pixel_values):
                return self.m(pixel_values=pixel_values).logits
    return W(model).eval()


def inline_single_file(path):
    """Make sure the ONNX file carries its weights (no external data); returns extra files removed."""
    import onnx
    d = os.path.dirname(path)
    before = set(os.listdir(d))
    m = onnx.load(path)  # pulls external data in, if any
    has_ext = any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer)
    base = os.path.basename(path)
    extra = sorted(f for f in before if f.startswith(base) and f != base)
    if has_ext or extra:
        onnx.save_model(m, path, save_as_external_data=False)
        for f in extra:
            os.remove(os.path.join(d, f))
    return extra


def onnx_info(path):
    import onnx
    m = onnx.load(path)
    checker = "ok"
    try:
        onnx.checker.check_model(m, full_check=True)
    except Exception as e:  # full_check adds strict shape inference; fall back to the plain check
        onnx.checker.check_model(m)
        checker = "ok (plain check; full_check failed: %s)" % (repr(e)[:300],)
    ops = collections.Counter(n.op_type for n in m.graph.node)

    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    return {
        "opset": {(o.domain or "ai.onnx"): o.version for o in m.opset_import},
        "ir_version": m.ir_version,
        "producer": "%s %s" % (m.producer_name, m.producer_version),
        "nodes": len(m.graph.node),
        "initializers": len(m.graph.initializer),
        "functions": len(m.functions),
        "op_types": dict(sorted(ops.items())),
        "inputs": {i.name: dims(i) for i in m.graph.input},
        "outputs": {o.name: dims(o) for o in m.graph.output},
        "external_data": any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer),
        "size_bytes": os.path.getsize(path),
        "checker": checker,
    }


def ort_compare(path, batches, pt_outs):
    """batches: list of feeds dicts (numpy); pt_outs: matching PyTorch logits. Returns max|diff| and outputs."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    md = 0.0
    outs = []
    for feeds, ref in zip(batches, pt_outs):
        o = sess.run(None, {n: feeds[n] for n in names})[0]
        outs.append(o)
        md = max(md, float(np.abs(o.astype(np.float64) - ref.astype(np.float64)).max()))
    return md, outs, names


def patch_deberta_scripted_helpers():
    """Replace DeBERTa-v2's @torch.jit.script helpers by plain Python twins (same math) so that
    torch.export can trace them. Returns the names replaced."""
    import torch
    import transformers.models.deberta_v2.modeling_deberta_v2 as m

    def make_log_bucket_position(relative_pos, bucket_size: int, max_position: int):
        sign = torch.sign(relative_pos)
        mid = bucket_size // 2
        abs_pos = torch.where((relative_pos < mid) & (relative_pos > -mid),
                              torch.tensor(mid - 1).type_as(relative_pos), torch.abs(relative_pos))
        log_pos = torch.ceil(torch.log(abs_pos / mid) / torch.log(torch.tensor((max_position - 1) / mid))
                             * (mid - 1)) + mid
        return torch.where(abs_pos <= mid, relative_pos.type_as(log_pos), log_pos * sign)

    def scaled_size_sqrt(query_layer, scale_factor: int):
        return torch.sqrt(torch.tensor(query_layer.size(-1), dtype=torch.float) * scale_factor)

    def build_rpos(query_layer, key_layer, relative_pos, position_buckets: int, max_relative_positions: int):
        if key_layer.size(-2) != query_layer.size(-2):
            return m.build_relative_position(key_layer, key_layer, bucket_size=position_buckets,
                                             max_position=max_relative_positions)
        return relative_pos

    def c2p_dynamic_expand(c2p_pos, query_layer, relative_pos):
        return c2p_pos.expand([query_layer.size(0), query_layer.size(1), query_layer.size(2), relative_pos.size(-1)])

    def p2c_dynamic_expand(c2p_pos, query_layer, key_layer):
        return c2p_pos.expand([query_layer.size(0), query_layer.size(1), key_layer.size(-2), key_layer.size(-2)])

    def pos_dynamic_expand(pos_index, p2c_att, key_layer):
        return pos_index.expand(p2c_att.size()[:2] + (pos_index.size(-2), key_layer.size(-2)))

    done = []
    for name, fn in [("make_log_bucket_position", make_log_bucket_position), ("scaled_size_sqrt", scaled_size_sqrt),
                     ("build_rpos", build_rpos), ("c2p_dynamic_expand", c2p_dynamic_expand),
                     ("p2c_dynamic_expand", p2c_dynamic_expand), ("pos_dynamic_expand", pos_dynamic_expand)]:
        if isinstance(getattr(m, name, None), torch.jit.ScriptFunction):
            setattr(m, name, fn)
            done.append(name)
    return done


def export_both(name, wrap, example, input_names, dyn_axes, ds_fn, odir, check_batches, pt_outs,
                arch_note, keep_bn=False, deadline=None):
    """TorchScript -> onnx/model.onnx, dynamo -> onnx/model-dynamo.onnx. Returns results dict."""
    import torch
    os.makedirs(odir, exist_ok=True)
    results = {}
    for exporter, fname in (("torchscript", "model.onnx"), ("dynamo", "model-dynamo.onnx")):
        path = os.path.join(odir, fname)
        res = {"file": "onnx/" + fname}
        t = time.time()
        if exporter == "dynamo" and deadline is not None and time.time() > deadline:
            res.update(ok=False, error="skipped: out of time budget")
            results[exporter] = res
            log("  %s %s: skipped (time)" % (name, exporter))
            continue
        try:
            if exporter == "torchscript":
                def ts_export(**kw):
                    torch.onnx.export(wrap, example, path, dynamo=False, opset_version=17,
                                      input_names=input_names, output_names=["logits"], dynamic_axes=dyn_axes,
                                      do_constant_folding=True, **kw)
                tm = getattr(torch.onnx, "TrainingMode", None)
                if keep_bn and tm is not None:
                    # the default eval-mode export folds BatchNorm into Conv; PRESERVE (model in
                    # eval mode) keeps BatchNormalization nodes for the BN-folding patch to work on.
                    try:
                        ts_export(training=tm.PRESERVE)
                        res["training_mode"] = "PRESERVE (keeps BatchNormalization)"
                    except Exception as e:
                        res["training_mode"] = "default (PRESERVE failed: %s)" % (repr(e)[:300],)
                        ts_export()
                else:
                    ts_export()
            else:
                attempts = [("named Dim", ds_fn("named")), ("Dim.DYNAMIC", ds_fn("dynamic"))]
                errs = []
                ok = False
                patched = None
                for label, ds in attempts:
                    for f in os.listdir(odir):
                        if f.startswith(fname):
                            os.remove(os.path.join(odir, f))
                    try:
                        torch.onnx.export(wrap, example, path, dynamo=True, opset_version=17,
                                          input_names=input_names, output_names=["logits"], dynamic_shapes=ds,
                                          external_data=False, report=False, verify=False)
                        res["dynamic_shapes"] = label
                        ok = True
                        break
                    except Exception as e:
                        errs.append("%s: %s" % (label, (repr(e)[:1500])))
                        log("  %s dynamo export with %s failed: %s" % (name, label, repr(e)[:600]))
                        if arch_note == "deberta-v2" and patched is None:
                            patched = patch_deberta_scripted_helpers()
                            log("  patched DeBERTa scripted helpers:", patched)
                            res["patched_scripted_helpers"] = patched
                            try:
                                for f in os.listdir(odir):
                                    if f.startswith(fname):
                                        os.remove(os.path.join(odir, f))
                                torch.onnx.export(wrap, example, path, dynamo=True, opset_version=17,
                                                  input_names=input_names, output_names=["logits"],
                                                  dynamic_shapes=ds, external_data=False, report=False,
                                                  verify=False)
                                res["dynamic_shapes"] = label + " (after patch)"
                                ok = True
                                break
                            except Exception as e2:
                                errs.append("%s after patch: %s" % (label, repr(e2)[:1500]))
                                log("  %s dynamo export after patch failed: %s" % (name, repr(e2)[:600]))
                if errs:
                    res["errors_before_success" if ok else "error"] = errs if ok else " | ".join(errs)
                if not ok:
                    raise RuntimeError("dynamo export failed")
            res["export_seconds"] = round(time.time() - t, 1)
            extra = inline_single_file(path)
            if extra:
                res["inlined_external_data"] = extra
            info = onnx_info(path)
            res["checker"] = info["checker"]
            res.update({k: info[k] for k in ("opset", "ir_version", "producer", "nodes", "initializers",
                                             "functions", "inputs", "outputs", "size_bytes")})
            res["op_types"] = info["op_types"]
            md, _, names = ort_compare(path, check_batches, pt_outs)
            res["ort_inputs"] = names
            res["ort_max_abs_diff"] = md
            res["ort_ok"] = md < ORT_TOL
            res["ok"] = bool(res["ort_ok"])
            log("  %s %s: opset %s, %d nodes, %d bytes, ORT max|diff| %.3g %s%s" % (
                name, exporter, info["opset"], info["nodes"], info["size_bytes"], md,
                "OK" if md < ORT_TOL else "TOO LARGE",
                (", BatchNormalization=%d Conv=%d" % (info["op_types"].get("BatchNormalization", 0),
                                                     info["op_types"].get("Conv", 0))) if keep_bn else ""))
        except Exception as e:
            res["ok"] = False
            res.setdefault("error", repr(e)[:3000])
            log("  %s %s FAILED: %s\n%s" % (name, exporter, repr(e)[:800], traceback.format_exc()[-3000:]))
            for f in os.listdir(odir):
                if f.startswith(fname):
                    os.remove(os.path.join(odir, f))
            res["file"] = None
        results[exporter] = res
    return results


# --------------------------------------------------------------------------- bookkeeping
def dir_size(d):
    tot = 0
    for root, _, files in os.walk(d):
        for f in files:
            tot += os.path.getsize(os.path.join(root, f))
    return tot


def write_tar(out, tar_path):
    if not tar_path:
        return
    tmp = tar_path + ".tmp"
    with tarfile.open(tmp, "w") as tf:
        tf.add(out, arcname="zoo")
    os.replace(tmp, tar_path)


def _count_splits(path):
    if not os.path.exists(path):
        return "missing"
    c = collections.Counter()
    with open(path) as f:
        for line in f:
            c[json.loads(line)["split"]] += 1
    return " + ".join("%d %s" % (n, k) for k, n in c.items())


def write_readme(out, summary):
    lines = [
        "# Model zoo (test fixtures)",
        "",
        "Tiny Hugging Face models, trained briefly so that activation ranges are realistic, each exported",
        "to ONNX by both PyTorch exporters (`onnx/model.onnx`: TorchScript, `dynamo=False`, opset 17;",
        "`onnx/model-dynamo.onnx`: `dynamo=True`). Built by `scripts/make-zoo/make_zoo.py`",
        "(see `scripts/make-zoo/README.md`). Text models: 9-language ID on `langid-small.jsonl`",
        "(64 calib + 128 eval texts). Vision models: 4 synthetic shapes on `shapes-small.jsonl`",
        "(pixel_values 3x32x32 in [0,1]). Each `reference.json` holds inputs, PyTorch fp32 logits,",
        "accuracy on 500 held-out samples, library versions and the exporters' results.",
        "",
        "| model | architecture | params | files | accuracy (500) | exporters OK | opset (ts / dynamo) "
        "| ORT vs PyTorch max abs diff | size |",
        "| --- | --- | ---: | --- | ---: | --- | --- | --- | ---: |",
    ]
    for s in summary:
        ex = s.get("exporters", {})
        oks = [k for k in ("torchscript", "dynamo") if ex.get(k, {}).get("ok")]
        diffs = ", ".join("%s %.1e" % (k, ex[k]["ort_max_abs_diff"]) for k in ("torchscript", "dynamo")
                          if ex.get(k, {}).get("ort_max_abs_diff") is not None)
        opsets = " / ".join(str((ex.get(k, {}).get("opset") or {}).get("ai.onnx", "-"))
                            for k in ("torchscript", "dynamo"))
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %.0f KB |" % (
            s["name"], s.get("architecture", "?"), "{:,}".format(s["params"]) if "params" in s else "?",
            " ".join(s.get("files", [])), ("%.3f" % s["accuracy"]) if "accuracy" in s else "FAILED",
            ", ".join(oks) or "none", opsets, diffs or "-", s.get("size_bytes", 0) / 1000.0))
    lines += [
        "",
        "Diffs: ONNX Runtime (CPU) vs PyTorch fp32 eager logits on the 128 eval samples (padded batches of 32)",
        "and on the reference samples one at a time; the bound asked for is 1e-4.",
        "",
        "Notes:",
        "",
        "- All models: hidden 64, 2 layers, 4 heads, intermediate 128 (ResNet: embedding 16, hidden sizes",
        "  [16, 32], depths [1, 1]). Text: vocabulary %d (WordPiece, byte-level BPE or Unigram), at most %d"
        % (VOCAB, MAX_LEN),
        "  tokens; roberta / xlm-roberta / mpnet have max_position_embeddings %d (their position ids start"
        % (MAX_LEN + 2),
        "  after the padding id). electra, albert and deberta-v2 use a factorized embedding of size 32.",
        "- Text inputs: input_ids, attention_mask (+ token_type_ids for bert, electra, albert), int64",
        "  [batch, sequence]; output logits [batch, 9]. Vision: pixel_values float32 [batch, 3, 32, 32] in",
        "  [0, 1] (preprocessor: rescale 1/255, no normalization); output logits [batch, 4].",
        "- resnet/onnx/model.onnx was exported with training=TrainingMode.PRESERVE (model in eval mode) so",
        "  that it keeps its BatchNormalization nodes; the default eval export folds them into the Conv",
        "  weights. The dynamo exporter's optimizer folds them (see the op counts in reference.json).",
        "- fpn (`scripts/make-zoo/make_cnn.py`, plain torch, no transformers class): an FPN/U-Net-style CNN,",
        "  residual blocks with BatchNorm and a Concat of two resolutions (one upsampled), trained on the same",
        "  shapes and exported the same way as resnet (BatchNorm kept in onnx/model.onnx); qat/model-qdq.onnx",
        "  is its module-swap QAT export (plugins/torch/worker/qrun_worker/module_swap.py).",
        "- The dynamo exporter builds opset 18 and converts down to 17 where the ONNX version converter can;",
        "  the opset column says which it ended at.",
        "- langid-small.jsonl: 64 calib texts (corpus train split, not used for training) + 128 eval texts",
        "  (corpus eval split). shapes-small.jsonl: %s, the first images of the calib and held-out sets"
        % _count_splits(os.path.join(out, "shapes-small.jsonl")),
        "  (balanced prefixes; the first 8 eval images are the reference images), as many as the 12 MB",
        "  budget allows. Total size of this folder: %.2f MB (%d bytes)." % (dir_size(out) / 1e6, dir_size(out)),
        "",
    ]
    fails = [(s["name"], k, v.get("error", "")) for s in summary for k, v in s.get("exporters", {}).items()
             if not v.get("ok")]
    fails += [(s["name"], "model", s["error"]) for s in summary if "error" in s]
    if fails:
        lines.append("Failures:")
        lines.append("")
        for n, k, e in fails:
            lines.append("- %s / %s: `%s`" % (n, k, str(e)[:300].replace("`", "'").replace("\n", " ")))
        lines.append("")
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines))


# --------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="scripts/make-model/.work/corpus")
    ap.add_argument("--out", required=True, help="the zoo folder (tests/fixtures/zoo layout)")
    ap.add_argument("--tar", default=None, help="re-written after every model: a tar of the zoo folder")
    ap.add_argument("--only", default=None, help="comma-separated model names")
    ap.add_argument("--data-only", action="store_true", help="write the two data files and stop (numpy only)")
    ap.add_argument("--subset", default=None,
                    help="JSON with the text selection (labels, train, calib, heldout) instead of --corpus")
    ap.add_argument("--write-subset", action="store_true",
                    help="select from --corpus, write the selection to --subset and stop")
    ap.add_argument("--n-calib-img", type=int, default=N_CALIB_IMG)
    ap.add_argument("--n-eval-img", type=int, default=N_EVAL_IMG_FILE)
    ap.add_argument("--time-budget", type=float, default=540.0,
                    help="seconds after which dynamo exports are skipped")
    args = ap.parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)
    deadline = T0 + args.time_budget

    if args.subset and not args.write_subset:
        with open(args.subset, encoding="utf-8") as f:
            sub = json.load(f)
        labels, train, calib, heldout, leaks = sub["labels"], sub["train"], sub["calib"], sub["heldout"], sub["leaks"]
        log("text selection read from", args.subset)
    else:
        labels, train, calib, heldout, leaks = text_data(args.corpus)
    if args.write_subset:
        os.makedirs(os.path.dirname(os.path.abspath(args.subset)), exist_ok=True)
        keep = lambda rows: [{"text": r["text"], "label": r["label"]} for r in rows]
        with open(args.subset, "w", encoding="utf-8") as f:
            json.dump({"labels": labels, "train": keep(train), "calib": keep(calib), "heldout": keep(heldout),
                       "leaks": leaks}, f, ensure_ascii=False)
        log("wrote", args.subset, os.path.getsize(args.subset), "bytes")
        return
    label2id = {l: i for i, l in enumerate(labels)}
    log("labels", labels, "train", len(train), "calib", len(calib), "heldout", len(heldout),
        "heldout texts also in train split:", leaks)
    img_calib = make_images(64, SEED + 11, balanced=True)
    img_held = make_images(N_HELDOUT, SEED + 12, balanced=True)
    write_data_files(out, calib, heldout, (img_calib[0][:args.n_calib_img], img_calib[1][:args.n_calib_img]),
                     (img_held[0][:args.n_eval_img], img_held[1][:args.n_eval_img]))
    if args.data_only:
        sp = os.path.join(out, "summary.json")
        if os.path.exists(sp):   # refresh the README (image counts, total size)
            write_readme(out, json.load(open(sp)))
        return

    import torch
    import onnx
    import onnxruntime as ort
    import tokenizers
    import transformers
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "onnx": onnx.__version__, "onnxruntime": ort.__version__, "numpy": np.__version__}
    try:
        import onnxscript
        versions["onnxscript"] = onnxscript.__version__
    except Exception as e:
        versions["onnxscript"] = "missing: %r" % (e,)
    log("versions", versions)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    import warnings
    warnings.filterwarnings("ignore", message=".*deterministic.*")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log("device", device, torch.cuda.get_device_name(0) if device.type == "cuda" else "")
    torch.set_num_threads(min(16, os.cpu_count() or 4))
    only = set(args.only.split(",")) if args.only else None

    summary_path = os.path.join(out, "summary.json")
    summary = []
    if os.path.exists(summary_path):
        summary = [s for s in json.load(open(summary_path)) if not only or s["name"] not in only]

    def record(entry):
        try:
            summary[:] = [s for s in summary if s["name"] != entry["name"]] + [entry]
            order = [s["name"] for s in text_specs(9) + vision_specs()]
            summary.sort(key=lambda s: order.index(s["name"]) if s["name"] in order else 99)
            with open(summary_path, "w") as f:
                json.dump(summary, f, indent=1, default=str)
            write_readme(out, summary)
        except Exception:
            log("record FAILED\n" + traceback.format_exc())
        write_tar(out, args.tar)

    # ---------------- text ----------------
    train_texts = [r["text"] for r in train]
    train_y = np.array([label2id[r["label"]] for r in train], dtype=np.int64)
    held_texts = [r["text"] for r in heldout]
    held_y = np.array([label2id[r["label"]] for r in heldout], dtype=np.int64)
    toks = {}
    for spec in text_specs(len(labels)):
        name = spec["name"]
        if only and name not in only:
            continue
        entry = {"name": name, "architecture": spec["cls"]}
        t_model = time.time()
        try:
            from tokenizers import Tokenizer
            if spec["tok"] not in toks:
                t = time.time()
                toks[spec["tok"]] = build_tokenizer(spec["tok"], train_texts[:N_TOK_TRAIN])
                log("tokenizer %s: vocab %d in %.1fs" % (spec["tok"], toks[spec["tok"]].get_vocab_size(),
                                                         time.time() - t))
            tok = toks[spec["tok"]]
            mdir = os.path.join(out, name)
            if os.path.exists(mdir):
                import shutil
                shutil.rmtree(mdir)
            os.makedirs(mdir)
            input_names = ["input_ids", "attention_mask"] + (["token_type_ids"] if spec["tt"] else [])
            tinfo = save_tokenizer(tok, spec["tok"], mdir, input_names)
            tok2 = Tokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
            pad_id = tok2.token_to_id(TOK_SPECS[spec["tok"]]["hf"]["pad_token"])
            tr_ids = [e.ids for e in tok2.encode_batch(train_texts)]
            he_ids = [e.ids for e in tok2.encode_batch(held_texts)]
            lens = np.array([len(x) for x in tr_ids])
            unk_tok = TOK_SPECS[spec["tok"]]["hf"]["unk_token"]
            unk_id = tok2.token_to_id(unk_tok)
            unk_rate = float(sum(x.count(unk_id) for x in tr_ids) / lens.sum()) if unk_id is not None else 0.0
            log("%s: vocab %d pad %s, train tokens mean %.1f max %d truncated %d, unk rate %.4f" % (
                name, tok2.get_vocab_size(), pad_id, lens.mean(), lens.max(), int((lens >= MAX_LEN).sum()),
                unk_rate))

            cfg_cls = getattr(transformers, spec["cfg"])
            cls = getattr(transformers, spec["cls"])
            cargs = dict(spec["args"])
            cargs["vocab_size"] = tok2.get_vocab_size()
            config = cfg_cls(num_labels=len(labels), id2label={i: l for i, l in enumerate(labels)},
                             label2id=dict(label2id), **cargs)
            for k, v in cargs.items():   # extra attributes some configs only read with getattr
                if getattr(config, k, None) != v:
                    setattr(config, k, v)
            config.problem_type = "single_label_classification"
            if config.pad_token_id != pad_id:
                log("WARNING %s: config pad_token_id %s != tokenizer pad id %s" % (name, config.pad_token_id, pad_id))
            torch.manual_seed(SEED)
            model = cls(config)
            n_params = sum(p.numel() for p in model.parameters())
            log("%s: %s, %d params" % (name, spec["cls"], n_params))

            def batches_fn(idx, tr_ids=tr_ids, pad_id=pad_id, tt=spec["tt"]):
                f = torch_feeds(pad_batch([tr_ids[i] for i in idx], pad_id, tt), device)
                return f, torch.from_numpy(train_y[idx]).to(device)

            hist = train_loop(model, batches_fn, len(tr_ids), TEXT_EPOCHS, 128, 2e-3, device, name)
            model = model.to("cpu").eval()
            try:
                model.save_pretrained(mdir, safe_serialization=True)
            except TypeError:
                model.save_pretrained(mdir)
            ref_model = cls.from_pretrained(mdir, attn_implementation="eager").float().eval()

            # accuracy on the 500 held-out texts (PyTorch fp32 CPU, padded batches of 50)
            with torch.no_grad():
                logits = []
                for i in range(0, len(he_ids), 50):
                    logits.append(ref_model(**torch_feeds(pad_batch(he_ids[i:i + 50], pad_id, spec["tt"]),
                                                          "cpu")).logits.numpy())
            logits = np.concatenate(logits)
            acc = float((logits.argmax(-1) == held_y).mean())
            per_label = {l: float((logits.argmax(-1)[held_y == i] == i).mean()) for i, l in enumerate(labels)}
            log("%s: held-out accuracy %.4f" % (name, acc), per_label)

            # reference: each text alone, no padding
            items = []
            with torch.no_grad():
                for i in range(N_REF_TEXT):
                    ids = tok2.encode(held_texts[i]).ids
                    lg = ref_model(**torch_feeds(pad_batch([ids], pad_id, spec["tt"]), "cpu")).logits[0].numpy()
                    items.append({"text": held_texts[i], "label": heldout[i]["label"], "ids": ids,
                                  "logits": [round(float(v), 6) for v in lg], "pred": labels[int(lg.argmax())]})
            # AutoTokenizer agreement (informational)
            try:
                from transformers import AutoTokenizer
                at = AutoTokenizer.from_pretrained(mdir)
                same = sum(at(it["text"], truncation=True, max_length=MAX_LEN)["input_ids"] == it["ids"] for it in items)
                tinfo["auto_tokenizer"] = "%s: ids equal on %d/%d reference texts" % (type(at).__name__, same,
                                                                                      len(items))
            except Exception as e:
                tinfo["auto_tokenizer"] = "failed: %r" % (e,)
            log("%s: tokenizer %s" % (name, tinfo))

            # ONNX: checks on the 128 eval texts (padded batches of 32) + the 16 reference texts alone
            check_batches = [pad_batch(he_ids[i:i + 32], pad_id, spec["tt"]) for i in range(0, N_EVAL_TEXT, 32)]
            check_batches += [pad_batch([it["ids"]], pad_id, spec["tt"]) for it in items]
            wrap = make_wrapper(ref_model, input_names)
            with torch.no_grad():
                pt_outs = [wrap(*[torch.from_numpy(b[n]) for n in input_names]).numpy() for b in check_batches]
            ex_feeds = pad_batch([he_ids[0][:12] if len(he_ids[0]) >= 12 else he_ids[0], he_ids[1][:5]],
                                 pad_id, spec["tt"])
            example = tuple(torch.from_numpy(ex_feeds[n]) for n in input_names)
            dyn_axes = {n: {0: "batch", 1: "sequence"} for n in input_names}
            dyn_axes["logits"] = {0: "batch"}

            def ds_fn(mode, k=len(input_names)):
                from torch.export import Dim
                if mode == "named":
                    b, s = Dim("batch", min=1, max=1024), Dim("sequence", min=1, max=MAX_LEN)
                    return tuple({0: b, 1: s} for _ in range(k))
                return tuple({0: Dim.DYNAMIC, 1: Dim.DYNAMIC} for _ in range(k))

            exps = export_both(name, wrap, example, input_names, dyn_axes, ds_fn, os.path.join(mdir, "onnx"),
                               check_batches, pt_outs, arch_note=name, deadline=deadline)
            ref = {
                "description": "First %d eval texts of ../langid-small.jsonl: token ids from the Python tokenizers "
                               "library (Tokenizer.from_file('tokenizer.json').encode(text).ids) and PyTorch float32 "
                               "CPU eager logits, one text at a time (batch 1, no padding, attention_mask=1%s), "
                               "rounded to 6 decimals." % (N_REF_TEXT, ", token_type_ids=0" if spec["tt"] else ""),
                "model": name, "architecture": spec["cls"], "labels": labels, "inputs": input_names,
                "pad_token_id": pad_id, "max_length": MAX_LEN, "items": items,
                "accuracy": acc, "accuracy_n": len(heldout), "accuracy_per_label": per_label,
                "accuracy_set": "500 held-out texts of the corpus eval split (balanced; the first 128 are the eval "
                                "split of langid-small.jsonl)",
                "train": {"texts": len(tr_ids), "epochs": TEXT_EPOCHS, "batch": 128, "lr": 2e-3, "history": hist,
                          "device": str(device)},
                "tokenizer": dict(tinfo, spec=spec["tok"], vocab_size=tok2.get_vocab_size(), unk_rate=unk_rate),
                "params": n_params, "versions": versions, "exporters": exps,
            }
            with open(os.path.join(mdir, "reference.json"), "w", encoding="utf-8") as f:
                json.dump(ref, f, ensure_ascii=False, indent=1, default=str)
            entry.update(params=n_params, accuracy=acc, exporters={k: {kk: v.get(kk) for kk in (
                "ok", "ort_max_abs_diff", "error", "opset", "nodes")} for k, v in exps.items()})
        except Exception as e:
            entry["error"] = repr(e)[:2000]
            log("%s FAILED: %r\n%s" % (name, e, traceback.format_exc()))
        mdir = os.path.join(out, name)
        if os.path.isdir(mdir):
            entry["files"] = sorted(os.path.relpath(os.path.join(r, f), mdir)
                                    for r, _, fs in os.walk(mdir) for f in fs)
            entry["size_bytes"] = dir_size(mdir)
        entry["seconds"] = round(time.time() - t_model, 1)
        record(entry)
        log("%s done in %.1fs, %d bytes" % (name, entry["seconds"], entry.get("size_bytes", 0)))

    # ---------------- vision ----------------
    vspecs = [s for s in vision_specs() if not only or s["name"] in only]
    if vspecs:
        t = time.time()
        xtr, ytr = make_images(N_TRAIN_IMG, SEED + 10, balanced=False)
        log("train images %s in %.1fs, class counts %s" % (xtr.shape, time.time() - t, np.bincount(ytr).tolist()))
        xtr_t = torch.from_numpy(xtr).to(device)
        ytr_t = torch.from_numpy(ytr).to(device)
        xhe, yhe = img_held
    for spec in vspecs:
        name = spec["name"]
        entry = {"name": name, "architecture": spec["cls"]}
        t_model = time.time()
        try:
            mdir = os.path.join(out, name)
            if os.path.exists(mdir):
                import shutil
                shutil.rmtree(mdir)
            os.makedirs(mdir)
            cfg_cls = getattr(transformers, spec["cfg"])
            cls = getattr(transformers, spec["cls"])
            config = cfg_cls(num_labels=len(SHAPES), id2label={i: l for i, l in enumerate(SHAPES)},
                             label2id={l: i for i, l in enumerate(SHAPES)}, **spec["args"])

            def batches_fn(idx):
                ii = torch.as_tensor(idx, device=device)
                return {"pixel_values": xtr_t[ii]}, ytr_t[ii]

            tried = []
            for attempt, lr in enumerate(spec["lrs"]):   # a lower learning rate if training does not take
                torch.manual_seed(SEED + attempt)
                model = cls(config)
                n_params = sum(p.numel() for p in model.parameters())
                log("%s: %s, %d params, lr %g" % (name, spec["cls"], n_params, lr))
                hist = train_loop(model, batches_fn, len(ytr), IMG_EPOCHS, 64, lr, device, name)
                model.eval()
                with torch.no_grad():
                    xg = torch.from_numpy(xhe).to(device)
                    acc_gpu = float((model(pixel_values=xg).logits.argmax(-1).cpu().numpy() == yhe).mean())
                log("%s: lr %g held-out accuracy (GPU) %.4f" % (name, lr, acc_gpu))
                tried.append({"lr": lr, "seed": SEED + attempt, "heldout_acc_gpu": acc_gpu, "history": hist})
                if acc_gpu >= 0.6:
                    break
            model = model.to("cpu").eval()
            try:
                model.save_pretrained(mdir, safe_serialization=True)
            except TypeError:
                model.save_pretrained(mdir)
            pp = {"image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": 32, "width": 32},
                  "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": False,
                  "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
            with open(os.path.join(mdir, "preprocessor_config.json"), "w") as f:
                json.dump(pp, f, indent=2)
            try:
                from transformers import AutoImageProcessor
                ip = AutoImageProcessor.from_pretrained(mdir)
                u8 = (xhe[0].transpose(1, 2, 0) * 255).round().astype(np.uint8)
                pv = np.asarray(ip(images=[u8], return_tensors="pt")["pixel_values"])
                ip_info = "%s: max|pixel_values - image/255| %.2g" % (
                    type(ip).__name__, float(np.abs(pv[0] - u8.transpose(2, 0, 1) / 255.0).max()))
            except Exception as e:
                ip_info = "AutoImageProcessor failed: %r" % (e,)
            log("%s: %s" % (name, ip_info))
            try:
                ref_model = cls.from_pretrained(mdir, attn_implementation="eager").float().eval()
            except Exception:
                ref_model = cls.from_pretrained(mdir).float().eval()
            with torch.no_grad():
                logits = np.concatenate([ref_model(pixel_values=torch.from_numpy(xhe[i:i + 100])).logits.numpy()
                                         for i in range(0, len(yhe), 100)])
            acc = float((logits.argmax(-1) == yhe).mean())
            per_label = {l: float((logits.argmax(-1)[yhe == i] == i).mean()) for i, l in enumerate(SHAPES)}
            log("%s: held-out accuracy %.4f" % (name, acc), per_label)
            items = []
            with torch.no_grad():
                for i in range(N_REF_IMG):
                    lg = ref_model(pixel_values=torch.from_numpy(xhe[i:i + 1])).logits[0].numpy()
                    items.append({"label": SHAPES[int(yhe[i])],
                                  "pixel_values": np.round(xhe[i].astype(np.float64), 4).tolist(),
                                  "logits": [round(float(v), 6) for v in lg], "pred": SHAPES[int(lg.argmax())]})
            check_batches = [{"pixel_values": xhe[i:i + 32]} for i in range(0, N_EVAL_IMG, 32)]
            check_batches += [{"pixel_values": xhe[i:i + 1]} for i in range(N_REF_IMG)]
            wrap = make_wrapper(ref_model, ["pixel_values"])
            with torch.no_grad():
                pt_outs = [wrap(torch.from_numpy(b["pixel_values"])).numpy() for b in check_batches]
            example = (torch.from_numpy(xhe[:2]),)
            dyn_axes = {"pixel_values": {0: "batch"}, "logits": {0: "batch"}}

            def ds_fn(mode):
                from torch.export import Dim
                if mode == "named":
                    return ({0: Dim("batch", min=1, max=1024)},)
                return ({0: Dim.DYNAMIC},)

            exps = export_both(name, wrap, example, ["pixel_values"], dyn_axes, ds_fn, os.path.join(mdir, "onnx"),
                               check_batches, pt_outs, arch_note=name, keep_bn=(name == "resnet"),
                               deadline=deadline)
            ref = {
                "description": "First %d eval images of ../shapes-small.jsonl (pixel_values float32 [3,32,32] in "
                               "[0,1], generated on a 3-decimal grid, listed here rounded to 4 decimals) and "
                               "PyTorch float32 CPU logits, one image at a time, rounded to 6 decimals." % N_REF_IMG,
                "model": name, "architecture": spec["cls"], "labels": SHAPES, "inputs": ["pixel_values"],
                "items": items, "accuracy": acc, "accuracy_n": int(len(yhe)), "accuracy_per_label": per_label,
                "accuracy_set": "500 held-out synthetic images (balanced; the first 128 are the eval split of "
                                "shapes-small.jsonl, possibly truncated there to fit the size budget)",
                "train": {"images": int(len(ytr)), "epochs": IMG_EPOCHS, "batch": 64, "lr": tried[-1]["lr"],
                          "history": hist, "device": str(device), "runs": tried},
                "image_processor": ip_info, "params": n_params, "versions": versions, "exporters": exps,
            }
            with open(os.path.join(mdir, "reference.json"), "w", encoding="utf-8") as f:
                json.dump(ref, f, separators=(",", ":"), default=str)  # compact: 8 images
            entry.update(params=n_params, accuracy=acc, exporters={k: {kk: v.get(kk) for kk in (
                "ok", "ort_max_abs_diff", "error", "opset", "nodes")} for k, v in exps.items()})
        except Exception as e:
            entry["error"] = repr(e)[:2000]
            log("%s FAILED: %r\n%s" % (name, e, traceback.format_exc()))
        mdir = os.path.join(out, name)
        if os.path.isdir(mdir):
            entry["files"] = sorted(os.path.relpath(os.path.join(r, f), mdir)
                                    for r, _, fs in os.walk(mdir) for f in fs)
            entry["size_bytes"] = dir_size(mdir)
        entry["seconds"] = round(time.time() - t_model, 1)
        record(entry)
        log("%s done in %.1fs, %d bytes" % (name, entry["seconds"], entry.get("size_bytes", 0)))

    log("zoo total %d bytes (apparent)" % dir_size(out))
    for s in summary:
        log("SUMMARY %-12s acc %s size %7d  %s" % (s["name"], s.get("accuracy"), s.get("size_bytes", 0),
                                                     {k: (v.get("ok"), v.get("ort_max_abs_diff"))
                                                      for k, v in s.get("exporters", {}).items()}
                                                     if "exporters" in s else s.get("error")))
    write_tar(out, args.tar)
    log("done")


if __name__ == "__main__":
    main()
