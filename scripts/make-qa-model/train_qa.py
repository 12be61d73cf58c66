#!/usr/bin/env python3
"""Train the small extractive-QA BERT shipped in models/bert-manqa (GPU machine).

Input: the QA sets build_qa.py writes (train/calib/eval.jsonl). Output under --out:
  models/bert-manqa/{config.json, model.safetensors (float16), tokenizer.json, tokenizer_config.json, vocab.txt}
  reference.json   start/end logits of the float16-rounded weights in float32 on a few eval pairs
  pipeline.json    transformers' question-answering pipeline answers on eval pairs (span choice fixture)
  truncation.json  tokenizers' only_second truncation at a short max_length (ids, offsets, sequence ids)
  metrics.json     exact match and F1 against gold per epoch, the final numbers
Usage: python3 train_qa.py --data DIR --out DIR [--budget SECONDS]
"""
import argparse
import collections
import json
import os
import re
import string
import sys
import time
import traceback

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import numpy as np
import torch

SEED = 20261201
MAX_LEN = 256
VOCAB_SIZE = 8000
MAX_ANSWER_TOKENS = 30
BATCH = 64
LR = 1e-3
WARMUP = 500
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
NAME = "bert-manqa"
T0 = time.time()


def log(*a):
    print("[%7.1fs]" % (time.time() - T0), *a, flush=True)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


# ---- SQuAD v1.1 evaluation (evaluate-v1.1.py) ----
def normalize_answer(s):
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def f1_score(pred, gold):
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def exact(pred, gold):
    return float(normalize_answer(pred) == normalize_answer(gold))


def build_tokenizer(texts):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIALS, limit_alphabet=120,
                                        continuing_subword_prefix="##", show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    tok.enable_truncation(max_length=MAX_LEN, strategy="only_second")
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
    with open(os.path.join(mdir, "vocab.txt"), "w", encoding="utf-8") as f:
        for t, _ in inv:
            f.write(t + "\n")


def featurize(tok, ex):
    """Encoding of (question, context) and the answer's token span; None when truncated away."""
    enc = tok.encode(ex["question"], ex["context"])
    seq = enc.sequence_ids
    offs = enc.offsets
    s_char = ex["answers"]["answer_start"][0]
    e_char = s_char + len(ex["answers"]["text"][0])
    ctx = [i for i, s in enumerate(seq) if s == 1]
    if not ctx or offs[ctx[-1]][1] < e_char:
        return enc, None
    start = next(i for i in ctx if offs[i][1] > s_char)
    end = max(i for i in ctx if offs[i][0] < e_char)
    return enc, (start, end)


def best_span(start, end, seq, mask, max_len):
    """transformers' QA pipeline choice: context tokens only, start <= end < start + max_len, max start+end."""
    ok = np.array([s == 1 for s in seq]) & (np.array(mask) == 1)
    n = len(seq)
    s = np.where(ok, start[:n], -np.inf)
    e = np.where(ok, end[:n], -np.inf)
    scores = s[:, None] + e[None, :]
    scores = np.triu(scores) + np.tril(np.full((n, n), -np.inf), -1)
    band = np.tril(np.ones((n, n), dtype=bool), max_len - 1)
    scores = np.where(band, scores, -np.inf)
    flat = int(np.argmax(scores))
    return flat // n, flat % n


def batches(encs, spans, idx):
    n = len(idx)
    L = max(len(encs[i].ids) for i in idx)
    ids = np.zeros((n, L), dtype=np.int64)
    tt = np.zeros((n, L), dtype=np.int64)
    am = np.zeros((n, L), dtype=np.int64)
    for r, i in enumerate(idx):
        e = encs[i]
        ids[r, :len(e.ids)] = e.ids
        tt[r, :len(e.ids)] = e.type_ids
        am[r, :len(e.ids)] = 1
    out = {"input_ids": torch.from_numpy(ids), "token_type_ids": torch.from_numpy(tt), "attention_mask": torch.from_numpy(am)}
    if spans is not None:
        out["start_positions"] = torch.tensor([spans[i][0] for i in idx])
        out["end_positions"] = torch.tensor([spans[i][1] for i in idx])
    return out


def evaluate(model, tok, rows, device):
    model.eval()
    encs = [tok.encode(r["question"], r["context"]) for r in rows]
    preds = []
    with torch.no_grad():
        for b in range(0, len(rows), 128):
            idx = list(range(b, min(len(rows), b + 128)))
            feeds = {k: v.to(device) for k, v in batches(encs, None, idx).items()}
            out = model(**feeds)
            st, en = out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()
            for r, i in enumerate(idx):
                e = encs[i]
                s, t = best_span(st[r], en[r], e.sequence_ids, e.attention_mask, MAX_ANSWER_TOKENS)
                preds.append(rows[i]["context"][e.offsets[s][0]:e.offsets[t][1]])
    em = np.mean([max(exact(p, g) for g in r["answers"]["text"]) for p, r in zip(preds, rows)])
    f1 = np.mean([max(f1_score(p, g) for g in r["answers"]["text"]) for p, r in zip(preds, rows)])
    model.train()
    return float(em), float(f1), preds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget", type=float, default=200.0, help="seconds of training")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=128)
    a = ap.parse_args()
    import transformers as T
    import tokenizers
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    log("torch", torch.__version__, "transformers", T.__version__, "tokenizers", tokenizers.__version__, "device", device)
    train, calib, evals = (read_jsonl(os.path.join(a.data, f"{s}.jsonl")) for s in ("train", "calib", "eval"))
    log(f"train {len(train)} calib {len(calib)} eval {len(evals)}")
    mdir = os.path.join(a.out, "models", NAME)
    os.makedirs(mdir, exist_ok=True)
    metrics = {"versions": {"torch": torch.__version__, "transformers": T.__version__, "tokenizers": tokenizers.__version__}}

    # Tokenizer: trained on the training questions and contexts, in file order.
    texts = []
    for r in train:
        texts.append(r["question"])
        texts.append(r["context"])
    tok = build_tokenizer(texts)
    save_tokenizer(tok, mdir)
    log("tokenizer vocab", tok.get_vocab_size(), "files", sorted(os.listdir(mdir)))

    encs, spans = [], []
    for r in train:
        enc, span = featurize(tok, r)
        if span is not None:
            encs.append(enc)
            spans.append(span)
    lens = sorted(len(e.ids) for e in encs)
    log(f"train features {len(encs)} of {len(train)} (answer inside the window); length median {lens[len(lens)//2]} max {lens[-1]}")
    metrics["train_features"] = len(encs)

    config = T.BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=a.hidden, num_hidden_layers=a.layers,
                          num_attention_heads=a.hidden // 32, intermediate_size=a.hidden * 4, max_position_embeddings=MAX_LEN,
                          type_vocab_size=2, pad_token_id=0)
    model = T.BertForQuestionAnswering(config).to(device)
    nparams = sum(p.numel() for p in model.parameters())
    log("parameters", nparams)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    # Every feature padded once into tensors on the device: a step only indexes and slices them.
    n = len(encs)
    lengths = np.array([len(e.ids) for e in encs])
    ids = np.zeros((n, MAX_LEN), dtype=np.int64)
    types = np.zeros((n, MAX_LEN), dtype=np.int64)
    for i, e in enumerate(encs):
        ids[i, :lengths[i]] = e.ids
        types[i, :lengths[i]] = e.type_ids
    ids_t, types_t = torch.from_numpy(ids).to(device), torch.from_numpy(types).to(device)
    mask_t = (torch.arange(MAX_LEN)[None, :] < torch.from_numpy(lengths)[:, None]).long().to(device)
    starts_t = torch.tensor([s for s, _ in spans], device=device)
    ends_t = torch.tensor([e for _, e in spans], device=device)
    # Buckets of a batch of similar length (little padding), visited in a new order each epoch.
    order = np.argsort(lengths, kind="stable")
    buckets = [(torch.from_numpy(order[i:i + BATCH]).to(device), int(lengths[order[i:i + BATCH]].max())) for i in range(0, n, BATCH)]
    rng = np.random.default_rng(SEED)
    # Time-boxed: linear warm-up over the first steps, then the rate decays linearly with the time
    # left, so the run ends at a low rate whatever speed the shared GPU gives.
    step, epoch = 0, 0
    t_train = time.time()
    history = []
    done = False
    while not done:
        epoch += 1
        for bi in rng.permutation(len(buckets)):
            idx, L = buckets[bi]
            frac = (time.time() - t_train) / a.budget
            if frac >= 1:
                done = True
                break
            for g in opt.param_groups:
                g["lr"] = LR * min(1.0, (step + 1) / WARMUP) * max(0.02, 1 - frac)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
                loss = model(input_ids=ids_t[idx, :L], token_type_ids=types_t[idx, :L], attention_mask=mask_t[idx, :L],
                             start_positions=starts_t[idx], end_positions=ends_t[idx]).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
        if epoch == 1:
            log(f"epoch 1: {step} steps in {time.time() - t_train:.1f}s")
        if epoch % 5 == 1 or done:
            em, f1, _ = evaluate(model, tok, evals[:600], device)
            history.append({"epoch": epoch, "step": step, "seconds": round(time.time() - t_train, 1), "loss": float(loss.detach()), "eval600_em": em, "eval600_f1": f1})
            log(f"epoch {epoch} step {step} loss {float(loss.detach()):.3f} eval[:600] EM {em:.4f} F1 {f1:.4f}")
    metrics["history"] = history

    # float16 weights on disk; every later number comes from the float16-rounded weights.
    model = model.float().cpu().eval()
    model = model.half().float()
    em, f1, preds = evaluate(model, tok, evals, "cpu")
    kinds = collections.defaultdict(list)
    for p, r in zip(preds, evals):
        kinds[r["kind"]].append(max(f1_score(p, g) for g in r["answers"]["text"]))
    metrics["eval"] = {"em": em, "f1": f1, "n": len(evals), "f1_by_kind": {k: float(np.mean(v)) for k, v in sorted(kinds.items())}}
    log("final (float16 weights, CPU float32) eval EM %.4f F1 %.4f" % (em, f1), metrics["eval"]["f1_by_kind"])
    model.half().save_pretrained(mdir)
    # evaluate() leaves the model in training mode: the fixtures below need dropout off.
    model = model.float().eval()
    log("model files", {f: os.path.getsize(os.path.join(mdir, f)) for f in sorted(os.listdir(mdir))})

    # reference logits for the native exporter on the shipped model
    ref_items = []
    for r in evals[:8]:
        e = tok.encode(r["question"], r["context"])
        with torch.no_grad():
            out = model(input_ids=torch.tensor([e.ids]), token_type_ids=torch.tensor([e.type_ids]), attention_mask=torch.ones(1, len(e.ids), dtype=torch.long))
        ref_items.append({"id": r["id"], "ids": e.ids, "token_type_ids": e.type_ids,
                          "start_logits": [round(float(v), 5) for v in out.start_logits[0]],
                          "end_logits": [round(float(v), 5) for v in out.end_logits[0]]})
    with open(os.path.join(a.out, "reference.json"), "w") as f:
        json.dump({"model": NAME, "items": ref_items}, f)

    # tokenizers' only_second truncation at max_length 40, for the TypeScript tokenizer's test
    from tokenizers import Tokenizer
    tr = Tokenizer.from_str(tok.to_str())
    tr.enable_truncation(max_length=40, strategy="only_second")
    items = []
    for r in evals[:40]:
        try:
            e = tr.encode(r["question"], r["context"])
        except Exception as err:  # the question alone fills max_length: Python refuses, as qrun does
            items.append({"question": r["question"], "context": r["context"], "error": str(err)})
            continue
        items.append({"question": r["question"], "context": r["context"], "ids": e.ids, "type_ids": e.type_ids,
                      "offsets": [list(o) for o in e.offsets], "sequence_ids": [(-1 if s is None else s) for s in e.sequence_ids]})
    with open(os.path.join(a.out, "truncation.json"), "w") as f:
        json.dump({"max_length": 40, "strategy": "only_second", "items": items}, f)

    # transformers' pipeline on eval pairs: the answer the TypeScript span choice must reproduce
    try:
        qa = T.pipeline("question-answering", model=mdir, tokenizer=mdir, device=-1, dtype=torch.float32)
        pitems = []
        for r in evals[:60]:
            out = qa(question=r["question"], context=r["context"], max_answer_len=MAX_ANSWER_TOKENS, max_seq_len=MAX_LEN, doc_stride=64)
            pitems.append({"id": r["id"], "question": r["question"], "context": r["context"], "answer": out["answer"],
                           "start": int(out["start"]), "end": int(out["end"]), "score": float(out["score"])})
        with open(os.path.join(a.out, "pipeline.json"), "w") as f:
            json.dump({"max_answer_len": MAX_ANSWER_TOKENS, "max_seq_len": MAX_LEN, "items": pitems}, f, indent=0)
        same = sum(p["answer"] == q for p, q in zip(pitems, preds[:60]))
        log(f"pipeline answers equal to train_qa's span choice on {same}/{len(pitems)}")
        metrics["pipeline_equal"] = same
    except Exception:
        log("pipeline FAILED\n" + traceback.format_exc())
    metrics["parameters"] = nparams
    metrics["seconds"] = time.time() - T0
    with open(os.path.join(a.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    log("done")


if __name__ == "__main__":
    main()
