#!/usr/bin/env python3
"""Train the small BERT token-classification model shipped in models/bert-ner.

Runs on the GPU machine (Python 3.12, torch, transformers 5, tokenizers; no network), from the
corpus extract_ner.py wrote (scripts/make-ner-model/corpus/{train,eval}.jsonl.gz) and qrun's
evaluation set data/ner/eval.jsonl (same extraction). Output, under --out, in the repository layout:
  models/bert-ner/{config.json, model.safetensors (float16), tokenizer.json, tokenizer_config.json,
                   vocab.txt}
  tests/fixtures/bert-ner/reference.json   word-split encodings (ids, word ids, with and without
                                           truncation) and PyTorch float32 logits, for qrun's tests
  tests/fixtures/bpe-words/{tokenizer.json, reference.json}
                                           a tiny byte-level BPE tokenizer and the Python tokenizers
                                           library's word-split encodings with it (add_prefix_space)
  metrics.json                             losses, entity precision/recall/F1 (conlleval chunking)

Words are encoded as transformers' is_split_into_words does (Tokenizer.encode(words,
is_pretokenized=True)); each word's label goes on its first sub-token, the other sub-tokens and the
special tokens get -100 (ignored by the loss).

Usage:  python3 scripts/make-ner-model/train_ner.py --out /tmp/stage [--budget-s 200]
"""
import argparse
import collections
import gzip
import json
import math
import os
import platform
import random
import time

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import numpy as np
import torch

SEED = 20261201
MAX_LEN = 128
VOCAB_SIZE = 8000
TYPES = ["EMAIL", "FMT", "OPT", "PATH", "URL", "VAR"]
LABELS = ["O"] + [p + "-" + t for t in TYPES for p in ("B", "I")]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BATCH = 128
LR = 8e-4
EPOCHS = 12
# Rows with a rarer type (PATH, URL, EMAIL, VAR: a few hundred each) are seen this many times an epoch.
RARE_REPEAT = 3
RARE = {"B-PATH", "B-URL", "B-EMAIL", "B-VAR"}
N_REF = 32
T0 = time.time()


def log(*a):
    print("[%7.1fs]" % (time.time() - T0), *a, flush=True)


def read_rows(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


# ---- seqeval's default entity chunking (conlleval), as qrun's TypeScript implements it ----
def end_of_chunk(prev_tag, tag, prev_type, type_):
    return (prev_tag in ("E", "S") or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
            or (prev_tag not in ("O", ".") and prev_type != type_))


def start_of_chunk(prev_tag, tag, prev_type, type_):
    return (tag in ("B", "S") or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
            or (tag not in ("O", ".") and prev_type != type_))


def get_entities(seqs):
    seq = [t for s in seqs for t in list(s) + ["O"]]
    prev_tag, prev_type, begin, chunks = "O", "", 0, []
    for i, chunk in enumerate(seq + ["O"]):
        tag = chunk[0]
        type_ = chunk[1:].split("-", 1)[-1] or "_"
        if end_of_chunk(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if start_of_chunk(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def prf(gold, pred):
    g, p = set(get_entities(gold)), set(get_entities(pred))
    tp = len(g & p)
    precision = tp / len(p) if p else 0.0
    recall = tp / len(g) if g else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    per = {}
    for t in TYPES:
        gt, pt = {e for e in g if e[0] == t}, {e for e in p if e[0] == t}
        tpt = len(gt & pt)
        pr, rc = (tpt / len(pt) if pt else 0.0), (tpt / len(gt) if gt else 0.0)
        per[t] = {"support": len(gt), "f1": round(2 * pr * rc / (pr + rc) if pr + rc else 0.0, 4)}
    return {"precision": precision, "recall": recall, "f1": f1, "gold": len(g), "pred": len(p), "per_type": per}


def build_tokenizer(texts):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##", max_input_chars_per_word=100))
    # cased: $HOME, FILE (a metavariable) and %X differ from their lower-case forms
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIALS,
                                        limit_alphabet=600, continuing_subword_prefix="##", show_progress=False)
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
    hf = Fast(tokenizer_object=tok, model_max_length=MAX_LEN, padding_side="right", truncation_side="right",
              unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
              model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    hf.save_pretrained(mdir)
    tok.save(os.path.join(mdir, "tokenizer.json"))
    inv = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    assert [i for _, i in inv] == list(range(len(inv))), "vocab ids not dense"
    with open(os.path.join(mdir, "vocab.txt"), "w", encoding="utf-8") as f:
        for t, _ in inv:
            f.write(t + "\n")
    for extra in ("special_tokens_map.json", "chat_template.jinja"):
        p = os.path.join(mdir, extra)
        if os.path.exists(p) and extra != "special_tokens_map.json":
            os.remove(p)


def encode_rows(tok, rows, label2id):
    """ids and labels (first sub-token of each word; -100 elsewhere), as is_split_into_words does."""
    encs = tok.encode_batch([r["tokens"] for r in rows], is_pretokenized=True)
    out = []
    for r, e in zip(rows, encs):
        labels, prev = [], None
        for w in e.word_ids:
            labels.append(-100 if w is None or w == prev else label2id[r["tags"][w]])
            prev = w
        out.append((e.ids, labels, e.word_ids))
    return out


def batch(items, device):
    L = max(len(x[0]) for x in items)
    ids = np.zeros((len(items), L), dtype=np.int64)
    am = np.zeros_like(ids)
    lab = np.full_like(ids, -100)
    for i, (x, y, _) in enumerate(items):
        ids[i, :len(x)] = x
        am[i, :len(x)] = 1
        lab[i, :len(y)] = y
    t = lambda a: torch.from_numpy(a).to(device)
    return t(ids), t(am), t(np.zeros_like(ids)), t(lab)


@torch.no_grad()
def predict_tags(model, rows, encoded, device, bs=256):
    """Per-word tags: the argmax at each word's first sub-token (words cut by truncation: O)."""
    model.eval()
    tags = []
    for i in range(0, len(encoded), bs):
        chunk = encoded[i:i + bs]
        ids, am, tt, _ = batch(chunk, device)
        pred = model(input_ids=ids, attention_mask=am, token_type_ids=tt).logits.argmax(-1).cpu().numpy()
        for j, (_, _, wids) in enumerate(chunk):
            r = rows[i + j]
            t = ["O"] * len(r["tokens"])
            prev = None
            for k, w in enumerate(wids):
                if w is not None and w != prev:
                    t[w] = LABELS[pred[j, k]]
                prev = w
            tags.append(t)
    return tags


def bpe_fixture(texts, rows, fdir):
    """A tiny byte-level BPE tokenizer and Python's is_split_into_words encodings with it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, min_frequency=2, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")),
                                                      trim_offsets=True, add_prefix_space=True)
    os.makedirs(fdir, exist_ok=True)
    tok.save(os.path.join(fdir, "tokenizer.json"))
    items = []
    for r in rows:
        e = tok.encode(r["tokens"], is_pretokenized=True)
        items.append({"tokens": r["tokens"], "ids": e.ids, "word_ids": e.word_ids})
    with open(os.path.join(fdir, "reference.json"), "w", encoding="utf-8") as f:
        json.dump({"description": "Tokenizer.from_file('tokenizer.json').encode(tokens, is_pretokenized=True): "
                                  "ids and word_ids (None for special tokens)", "items": items}, f, ensure_ascii=False, indent=0)


def served_check(mdir, model, rows, word_tags):
    """plugins/triton/python/token_classification.py (the Triton post-processor) with the real
    tokenizers library on each row's text and PyTorch's logits for it: its entities, and whether
    they are the entities of the word-level predictions (the data path) and of the gold tags."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("tc", "plugins/triton/python/token_classification.py")
    tc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tc)
    decoder = tc.EntityDecoder(os.path.join(mdir, "tokenizer.json"), MAX_LEN, LABELS)
    texts = [r["text"] for r in rows]
    encs = decoder.tokenizer.encode_batch(texts)
    L = max(len(e.ids) for e in encs)
    ids = np.zeros((len(encs), L), dtype=np.int64)
    am = np.zeros_like(ids)
    for i, e in enumerate(encs):
        ids[i, :len(e.ids)] = e.ids
        am[i, :len(e.ids)] = 1
    with torch.no_grad():
        t = torch.from_numpy
        logits = model(input_ids=t(ids), attention_mask=t(am), token_type_ids=t(np.zeros_like(ids))).logits.numpy()
    found = decoder(texts, logits)
    same_words = same_pred = same_gold = 0
    for r, e, ents, wt in zip(rows, encs, found, word_tags):
        spans, seen = [], set()
        for k, w in enumerate(e.word_ids):
            if w is None:
                continue
            if w in seen:
                spans[-1][1] = e.offsets[k][1]
            else:
                seen.add(w)
                spans.append([e.offsets[k][0], e.offsets[k][1]])
        words = [r["text"][a:b] for a, b in spans]
        same_words += words == r["tokens"]
        got = [(x["entity_group"], x["start"], x["end"]) for x in ents]
        if words == r["tokens"]:
            as_spans = lambda tags: [(t, spans[a][0], spans[b][1]) for t, a, b in tc.chunks(tags)]
            same_pred += got == as_spans(wt)
            same_gold += got == as_spans(r["tags"])
    summary = {"texts": len(rows), "served_words_equal_data_words": same_words,
               "served_entities_equal_word_predictions": same_pred, "served_entities_equal_gold": same_gold}
    # transformers' own token-classification pipeline, aggregation "first": the same entities?
    try:
        from transformers import pipeline
        pipe = pipeline("token-classification", model=mdir, aggregation_strategy="first", device=-1, dtype=torch.float32)
        hf = pipe(texts, batch_size=32)
        same_hf, score_diff = 0, 0.0
        for ents, h in zip(found, hf):
            a = [(x["entity_group"], x["start"], x["end"]) for x in ents]
            b = [(x["entity_group"], int(x["start"]), int(x["end"])) for x in h]
            same_hf += a == b
            if a == b:
                for x, y in zip(ents, h):
                    score_diff = max(score_diff, abs(x["score"] - float(y["score"])))
        summary.update({"served_entities_equal_transformers_pipeline_first": same_hf, "max_score_diff_vs_pipeline": score_diff})
        log("pipeline example:", texts[0], [{k: (float(v) if k == "score" else v) for k, v in x.items()} for x in hf[0]])
    except Exception as e:
        summary["pipeline_error"] = repr(e)
    log("served check (token_classification.py, real tokenizers):", json.dumps(summary))
    return {"description": "plugins/triton/python/token_classification.py's EntityDecoder with the tokenizers "
                           "library on data/ner/eval.jsonl's texts and PyTorch float32 logits (padded batch)",
            "summary": summary, "entities": found}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="scripts/make-ner-model/corpus")
    ap.add_argument("--qrun-eval", default="data/ner/eval.jsonl")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--budget-s", type=float, default=200.0, help="stop starting epochs after this many seconds")
    args = ap.parse_args()

    import tokenizers
    import transformers
    from transformers import BertConfig, BertForTokenClassification
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}
    log("versions", versions)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log("device", device)

    mdir = os.path.join(args.out, "models", "bert-ner")
    fdir = os.path.join(args.out, "tests", "fixtures", "bert-ner")
    for d in (mdir, fdir):
        os.makedirs(d, exist_ok=True)

    train = read_rows(os.path.join(args.corpus, "train.jsonl.gz"))
    held = read_rows(os.path.join(args.corpus, "eval.jsonl.gz"))
    qeval = read_rows(args.qrun_eval)
    log("rows: train %d, held-out %d, data/ner/eval.jsonl %d" % (len(train), len(held), len(qeval)))
    label2id = {l: i for i, l in enumerate(LABELS)}

    texts = [" ".join(r["tokens"]) for r in train]
    tok = build_tokenizer(texts)
    log("vocab", tok.get_vocab_size())
    save_tokenizer(tok, mdir)
    try:
        bpe_fixture(texts[:20000], qeval[:N_REF], os.path.join(args.out, "tests", "fixtures", "bpe-words"))
        log("bpe fixture written")
    except Exception as e:  # the model matters more than this fixture
        log("bpe fixture FAILED", repr(e))

    tr = encode_rows(tok, train, label2id)
    he = encode_rows(tok, held, label2id)
    qe = encode_rows(tok, qeval, label2id)
    lens = np.array([len(x[0]) for x in tr])
    unk = tok.token_to_id("[UNK]")
    log("train tokens: mean %.1f max %d; truncated %d; unk rate %.5f" % (
        lens.mean(), lens.max(), int((lens >= MAX_LEN).sum()), sum(x[0].count(unk) for x in tr) / lens.sum()))

    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=512, max_position_embeddings=MAX_LEN, type_vocab_size=2,
                        pad_token_id=tok.token_to_id("[PAD]"), num_labels=len(LABELS),
                        id2label={i: l for i, l in enumerate(LABELS)}, label2id=dict(label2id))
    torch.manual_seed(SEED)
    model = BertForTokenClassification(config).to(device)
    log("params", sum(p.numel() for p in model.parameters()))
    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    groups = [{"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)], "weight_decay": 0.01},
              {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=LR)
    base = [i for i, r in enumerate(train) for _ in range(RARE_REPEAT if RARE.intersection(r["tags"]) else 1)]
    log("rows an epoch: %d (rare-type rows x%d)" % (len(base), RARE_REPEAT))
    per_epoch = math.ceil(len(base) / BATCH)
    # The decay ends with the last epoch that fits the time budget: planned again after epoch 1.
    plan = {"total": per_epoch * args.epochs}
    warm = int(0.05 * per_epoch * 2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warm if s < warm else max(0.02, (plan["total"] - s) / (plan["total"] - warm)))
    history = []
    t_train = time.time()
    for ep in range(args.epochs):
        if ep > 0 and (time.time() - t_train > args.budget_s or ep * per_epoch >= plan["total"]):
            log("time budget reached; stopping after %d epochs" % ep)
            break
        model.train()
        order = list(base)
        random.Random(SEED * 100 + ep).shuffle(order)
        # similar lengths in a batch (less padding): sort within windows of 50 batches, then shuffle the batches
        w = BATCH * 50
        order = [i for k in range(0, len(order), w) for i in sorted(order[k:k + w], key=lambda i: len(tr[i][0]))]
        chunks = [order[b:b + BATCH] for b in range(0, len(order), BATCH)]
        random.Random(SEED * 100 + ep + 1).shuffle(chunks)
        order = [i for c in chunks for i in c]
        tl, tn = 0.0, 0
        for b in range(0, len(order), BATCH):
            ids, am, tt, lab = batch([tr[i] for i in order[b:b + BATCH]], device)
            out = model(input_ids=ids, attention_mask=am, token_type_ids=tt, labels=lab)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            tl += out.loss.item()
            tn += 1
        m = prf([r["tags"] for r in held], predict_tags(model, held, he, device))
        if ep == 0:
            fits = max(2, min(args.epochs, int(args.budget_s / max(1e-6, time.time() - t_train))))
            plan["total"] = per_epoch * fits
            log("epoch 1 took %.1fs: planning %d epochs" % (time.time() - t_train, fits))
        history.append({"epoch": ep + 1, "loss": tl / tn, "heldout_f1": m["f1"], "precision": m["precision"], "recall": m["recall"]})
        log("epoch %d loss %.4f held-out entity P %.4f R %.4f F1 %.4f" % (ep + 1, tl / tn, m["precision"], m["recall"], m["f1"]))

    # save float16 weights (half the size); the reference is the float16-rounded model run in float32
    model = model.to("cpu").eval()
    model.half().save_pretrained(mdir)
    for f in sorted(os.listdir(mdir)):
        log("  %9d models/bert-ner/%s" % (os.path.getsize(os.path.join(mdir, f)), f))
    ref_model = BertForTokenClassification.from_pretrained(mdir, attn_implementation="eager", dtype=torch.float32).float().eval()
    torch.set_num_threads(4)
    held_m = prf([r["tags"] for r in held], predict_tags(ref_model, held, he, "cpu"))
    q_tags = predict_tags(ref_model, qeval, qe, "cpu")
    q_m = prf([r["tags"] for r in qeval], q_tags)
    log("PyTorch fp32 (fp16 weights) CPU held-out:", json.dumps(held_m))
    log("PyTorch fp32 (fp16 weights) CPU data/ner/eval.jsonl:", json.dumps(q_m))

    from tokenizers import Tokenizer
    tok2 = Tokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
    short = Tokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
    short.enable_truncation(max_length=12)
    items = []
    with torch.no_grad():
        for i, r in enumerate(qeval[:N_REF]):
            e = tok2.encode(r["tokens"], is_pretokenized=True)
            s = short.encode(r["tokens"], is_pretokenized=True)
            ids = torch.tensor([e.ids])
            lg = ref_model(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids)).logits[0]
            items.append({"tokens": r["tokens"], "ids": e.ids, "word_ids": e.word_ids,
                          "truncated12": {"ids": s.ids, "word_ids": s.word_ids},
                          "logits": [round(float(v), 5) for v in lg.flatten()], "shape": list(lg.shape),
                          "pred": q_tags[i]})
    try:
        from transformers import AutoTokenizer
        at = AutoTokenizer.from_pretrained(mdir)
        same = 0
        for it in items:
            enc = at(it["tokens"], is_split_into_words=True)
            same += enc["input_ids"] == it["ids"] and enc.word_ids() == it["word_ids"]
        log("AutoTokenizer(is_split_into_words=True) ids and word_ids equal on %d/%d" % (same, len(items)))
    except Exception as e:
        log("AutoTokenizer check FAILED", repr(e))
    ref = {"description": "data/ner/eval.jsonl's first %d rows: Tokenizer.from_file('models/bert-ner/tokenizer.json')"
                          ".encode(tokens, is_pretokenized=True) ids and word_ids (None: special token), the same "
                          "with truncation max_length=12, PyTorch float32 CPU logits [tokens, labels] (batch 1, "
                          "float16 weights as saved, rounded to 5 decimals) and the per-word predicted tags "
                          "(first sub-token)." % N_REF,
           "labels": LABELS, "eval_pytorch": q_m, "heldout_pytorch": held_m,
           "eval_pred_tags": q_tags, "versions": versions, "items": items}
    with open(os.path.join(fdir, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False)
    try:
        served = served_check(mdir, ref_model, qeval, q_tags)
    except Exception as e:
        import traceback
        log("served check FAILED\n" + traceback.format_exc())
        served = {"summary": {"error": repr(e)}}
    with open(os.path.join(fdir, "served.json"), "w", encoding="utf-8") as f:
        json.dump(served, f, ensure_ascii=False)
    metrics = {"history": history, "served": served["summary"], "heldout": held_m, "qrun_eval": q_m, "train_rows": len(train),
               "vocab_size": tok.get_vocab_size(), "params": sum(p.numel() for p in ref_model.parameters()),
               "versions": versions}
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    log("done")


if __name__ == "__main__":
    main()
