#!/usr/bin/env python3
"""Train the shipped sentence-embedding model (models/embed-gettext) on the GPU.

Data: groups of translated gettext messages (extract_pairs.py → groups-train.jsonl.gz): the English
msgid and its German, Spanish, French, Italian, Dutch, Portuguese and Swedish translations say the
same thing, so any two members of a group are a positive pair; the other pairs of a batch are the
negatives (in-batch contrastive loss, sentence-transformers' MultipleNegativesRankingLoss with scale
20, both directions).

Model: a small BERT from scratch (4 layers, hidden 128, 4 heads, FFN 512, 128 positions) under a
WordPiece tokenizer of 8,000 pieces trained on the same texts (lower-cased, accents kept); mean
pooling over the attention mask and L2 normalisation, saved with SentenceTransformer.save, weights
in float16 (~3.7 MB).

Writes OUT/model (the sentence-transformers folder), OUT/reference.json (token ids and
sentence-transformers' float32 embeddings of the first 64 evaluation texts, for the native export's
test) and OUT/metrics.json (loss curve, FP32 paraphrase retrieval accuracy on data/embed/eval.jsonl).
Usage: python3 train_embed.py --groups GROUPS.jsonl.gz --eval data/embed/eval.jsonl --out OUT [--budget-s 180]
"""
import argparse
import gzip
import json
import math
import os
import random
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
import transformers
import sentence_transformers
from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer, decoders, models as tmodels, normalizers, pre_tokenizers, processors, trainers

try:
    from sentence_transformers import models as st_models
    Transformer, Pooling, Normalize = st_models.Transformer, st_models.Pooling, st_models.Normalize
except Exception:
    from sentence_transformers.base.modules.transformer import Transformer  # type: ignore
    from sentence_transformers.sentence_transformer.modules.pooling import Pooling  # type: ignore
    from sentence_transformers.sentence_transformer.modules.normalize import Normalize  # type: ignore
try:
    from transformers import PreTrainedTokenizerFast as FastTokenizer
except Exception:
    from transformers import TokenizersBackend as FastTokenizer  # type: ignore

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = 8000
MAX_LEN = 128
TRAIN_LEN = 64
T0 = time.time()


def log(msg):
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())} +{time.time() - T0:5.1f}s] {msg}", flush=True)


def train_tokenizer(texts):
    tok = Tokenizer(tmodels.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=VOCAB, min_frequency=2, special_tokens=SPECIALS, continuing_subword_prefix="##")
    tok.train_from_iterator(texts, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece()
    tok.enable_truncation(max_length=MAX_LEN)
    return tok


def embed(model, ids_list, dev, batch=512):
    out = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(ids_list), batch):
            x, m = pad(ids_list[i:i + batch], dev)
            out.append(pool(model(input_ids=x, attention_mask=m).last_hidden_state.float(), m))
    return torch.cat(out)


def pad(seqs, dev):
    n = max(len(s) for s in seqs)
    x = torch.zeros(len(seqs), n, dtype=torch.long)
    m = torch.zeros(len(seqs), n, dtype=torch.long)
    for i, s in enumerate(seqs):
        x[i, :len(s)] = torch.tensor(s)
        m[i, :len(s)] = 1
    return x.to(dev, non_blocking=True), m.to(dev, non_blocking=True)


def pool(h, m):
    mf = m.unsqueeze(-1).to(h.dtype)
    v = (h * mf).sum(1) / mf.sum(1).clamp(min=1e-9)
    return F.normalize(v, p=2, dim=1)


def retrieval_accuracy(vectors, groups):
    """Share of texts whose nearest other text (cosine) is in their group."""
    v = torch.as_tensor(vectors, dtype=torch.float32)
    v = F.normalize(v, dim=1)
    sim = v @ v.T
    sim.fill_diagonal_(-2)
    nn_idx = sim.argmax(1).tolist()
    hits = [groups[i] == groups[j] for i, j in enumerate(nn_idx)]
    return sum(hits) / len(hits)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget-s", type=float, default=180)
    ap.add_argument("--batch", type=int, default=384)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    log(f"torch {torch.__version__} transformers {transformers.__version__} sentence-transformers {sentence_transformers.__version__} device {dev}")

    with gzip.open(args.groups, "rt", encoding="utf-8") as f:
        rows = [json.loads(l) for l in f]
    groups = [[t for t in r if t is not None] for r in rows]
    texts = sorted({t for g in groups for t in g})
    log(f"{len(groups)} groups, {len(texts)} texts")
    tok = train_tokenizer(texts)
    log(f"tokenizer: {tok.get_vocab_size()} pieces")
    index = {t: i for i, t in enumerate(texts)}
    enc = tok.encode_batch(texts)
    ids = [e.ids[:TRAIN_LEN - 1] + ([e.ids[-1]] if len(e.ids) > TRAIN_LEN - 1 else []) for e in enc]
    gidx = [[index[t] for t in g] for g in groups]
    lens = [len(e.ids) for e in enc]
    log(f"tokenized: mean {np.mean(lens):.1f} tokens, p99 {np.percentile(lens, 99):.0f}, unk share {np.mean([e.ids.count(tok.token_to_id('[UNK]')) / len(e.ids) for e in enc]):.4f}")

    cfg = transformers.BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                                  intermediate_size=512, max_position_embeddings=MAX_LEN, type_vocab_size=2, pad_token_id=0,
                                  hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    model = transformers.BertModel(cfg, add_pooling_layer=False).to(dev)
    ev = [json.loads(l) for l in open(args.eval, encoding="utf-8") if l.strip()]
    ev_texts = [e["text"] for e in ev]
    ev_groups = [e["group"] for e in ev]
    ev_ids = [e.ids for e in tok.encode_batch(ev_texts)]
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = 300
    scale = 20.0
    step, curve = 0, []
    order = list(range(len(gidx)))
    pos = len(order)
    train_start = time.time()
    model.train()
    while True:
        elapsed = time.time() - train_start
        if elapsed > args.budget_s:
            break
        if pos + args.batch > len(order):
            random.shuffle(order)
            pos = 0
        batch = order[pos:pos + args.batch]
        pos += args.batch
        a_ids, p_ids = [], []
        for gi in batch:
            members = gidx[gi]
            # Half the anchors are the English message, the rest any member: English↔translation
            # and translation↔translation pairs both occur.
            a = members[0] if random.random() < 0.5 else random.choice(members)
            p = random.choice([m for m in members if m != a])
            a_ids.append(ids[a])
            p_ids.append(ids[p])
        lr = args.lr * min(1.0, (step + 1) / warmup) * max(0.05, 1 - elapsed / args.budget_s)
        for g in opt.param_groups:
            g["lr"] = lr
        x, m = pad(a_ids + p_ids, dev)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
            h = model(input_ids=x, attention_mask=m).last_hidden_state
        v = pool(h.float(), m)
        va, vp = v[: len(batch)], v[len(batch):]
        sim = va @ vp.T * scale
        labels = torch.arange(len(batch), device=dev)
        loss = (F.cross_entropy(sim, labels) + F.cross_entropy(sim.T, labels)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 200 == 0:
            point = {"step": step, "loss": round(loss.item(), 4), "lr": lr, "s": round(elapsed, 1)}
            if step % 1000 == 0:
                point["eval_retrieval"] = round(retrieval_accuracy(embed(model, ev_ids, dev).cpu(), ev_groups), 4)
                model.train()
            curve.append(point)
            log(f"step {step} loss {loss.item():.4f} lr {lr:.2e}{' eval retrieval %.4f' % point['eval_retrieval'] if 'eval_retrieval' in point else ''}")
        step += 1
    log(f"trained {step} steps, {step * args.batch} pairs")

    # Evaluation texts (held-out groups).
    acc_train_model = retrieval_accuracy(embed(model, ev_ids, dev).cpu(), ev_groups)
    log(f"eval paraphrase retrieval accuracy (training model, fp32): {acc_train_model:.4f} over {len(ev_texts)} texts")

    # Save: float16 weights, sentence-transformers layout.
    out_model = os.path.join(args.out, "model")
    model = model.cpu().eval()
    fast = FastTokenizer(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", model_max_length=MAX_LEN)
    # The plain transformers folder first (float16): if sentence-transformers fails below, the trained
    # model is not lost (modules.json and 1_Pooling can be written by hand from it).
    hf_dir = os.path.join(args.out, "hf")
    model.half().save_pretrained(hf_dir)
    fast.save_pretrained(hf_dir)
    log(f"saved the transformers folder {hf_dir}: {sorted(os.listdir(hf_dir))}")
    acc, tok_ids_match, items = None, None, []
    try:
        transformer = Transformer(hf_dir, max_seq_length=MAX_LEN)
        st = SentenceTransformer(modules=[transformer, Pooling(transformer.get_word_embedding_dimension(), pooling_mode="mean"), Normalize()], device="cpu")
        st.half()  # whatever dtype transformers loaded it in: the saved weights are float16
        st.save(out_model)
        if os.path.exists(os.path.join(out_model, "README.md")):
            os.remove(os.path.join(out_model, "README.md"))
        for f in ("modules.json", "1_Pooling/config.json", "sentence_bert_config.json", "config.json", "tokenizer_config.json"):
            p = os.path.join(out_model, f)
            if os.path.exists(p):
                log(f"--- {f}\n{open(p).read()}")
        st = SentenceTransformer(out_model, device="cpu").float().eval()
        vecs = st.encode(ev_texts, batch_size=128, convert_to_numpy=True)
        acc = retrieval_accuracy(vecs, ev_groups)
        log(f"eval paraphrase retrieval accuracy (saved fp16 weights, sentence-transformers, fp32 compute): {acc:.4f}")
        for t, v in zip(ev_texts[:64], vecs[:64]):
            f = st.tokenize([t])
            items.append({"text": t, "ids": f["input_ids"][0][f["attention_mask"][0].bool()].tolist(), "values": [round(float(x), 7) for x in v]})
        tok_ids_match = all(it["ids"] == e for it, e in zip(items, ev_ids[:64]))
        log(f"sentence-transformers ids == tokenizers ids on 64 texts: {tok_ids_match}")
        with open(os.path.join(args.out, "reference.json"), "w") as f:
            json.dump({"model": "models/embed-gettext", "output": "sentence_embedding", "pad_token_id": 0, "source": "sentence-transformers", "items": items}, f, indent=0)
        import shutil
        shutil.rmtree(hf_dir)  # the sentence-transformers folder holds the same files
    except Exception:
        import traceback
        log("sentence-transformers save/encode FAILED\n" + traceback.format_exc())
        # Fallback reference: the same pooling in torch on the float16 weights in float32.
        m32 = transformers.BertModel.from_pretrained(hf_dir, add_pooling_layer=False).float().eval()
        vecs = embed(m32, ev_ids, "cpu").numpy()
        acc = retrieval_accuracy(vecs, ev_groups)
        items = [{"text": t, "ids": i, "values": [round(float(x), 7) for x in v]} for t, i, v in zip(ev_texts[:64], ev_ids[:64], vecs[:64])]
        with open(os.path.join(args.out, "reference.json"), "w") as f:
            json.dump({"model": "models/embed-gettext", "output": "sentence_embedding", "pad_token_id": 0, "source": "torch mean pooling (sentence-transformers failed)", "items": items}, f, indent=0)
        out_model = hf_dir
    sizes = {os.path.relpath(os.path.join(d, x), out_model): os.path.getsize(os.path.join(d, x)) for d, _, fs in os.walk(out_model) for x in fs}
    metrics = {
        "torch": torch.__version__, "transformers": transformers.__version__, "sentence_transformers": sentence_transformers.__version__,
        "groups": len(groups), "texts": len(texts), "vocab": tok.get_vocab_size(), "steps": step, "batch": args.batch,
        "budget_s": args.budget_s, "lr": args.lr, "seed": args.seed, "curve": curve,
        "eval_texts": len(ev_texts), "eval_retrieval_accuracy_training_model": acc_train_model,
        "eval_retrieval_accuracy_saved_fp16": acc, "st_ids_match_tokenizers": tok_ids_match, "files": sizes,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    log(f"files: {sizes}")


if __name__ == "__main__":
    main()
