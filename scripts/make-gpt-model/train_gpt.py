#!/usr/bin/env python3
"""Train models/gpt-debian, the small GPT-2-style model shipped for issue 15 item 5.

Input: the Debian-text corpus of scripts/make-hard-bert (one xz JSON-lines file, one document per
line: {"g": package, "l": label, "s": "train"|"eval", "p": [paragraphs]}; the split is by package).
Everything runs against wall-clock deadlines counted from $JOB_T0 (the device job is killed at 7
minutes), and outputs go to --out as they are made:
  data (eval/calib/val texts)  -> byte-level BPE tokenizer -> GPT2LMHeadModel trained until TRAIN_END
  (checkpoint at CHECKPOINT_AT, the best validation state kept) -> fp16 HF folder -> reference.json
  (float32 CPU eager logits of the fp16 weights) -> metrics.json -> (if time is left) samples.

Texts: a document's paragraphs joined by a blank line ("\n\n"). Eval texts come from held-out
(eval-split) packages, calibration texts and the validation set (early-stopping choice) from
training packages that are kept out of training.

Usage: python3 scripts/make-gpt-model/train_gpt.py --corpus PATH.jsonl.xz --out DIR [--dry-run]
"""
import argparse
import collections
import hashlib
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
VOCAB_SIZE = 4096
EOT = "<|endoftext|>"
CTX = 256                 # n_positions and the training row length
N_EVAL = 128
N_CALIB = 64
EVAL_MIN_TOKENS = 100
PPL_MAX_TOKENS = 256      # perplexity over each eval text's first <= 256 tokens
PROMPT_TOKENS = 16
REF_PROMPTS = 2
REF_DECODE_STEPS = 8
MODEL = dict(n_layer=4, n_embd=256, n_head=8, n_positions=CTX)
BATCH = int(os.environ.get("BATCH", 64))   # smaller only for a CPU smoke test
LR = 1.5e-3
WARMUP = 200
WEIGHT_DECAY = 0.1
# deadlines in seconds after JOB_T0 (the job is killed at 420)
TRAIN_END = float(os.environ.get("TRAIN_END", 292))
CHECKPOINT_AT = float(os.environ.get("CHECKPOINT_AT", 150))
EVAL_EVERY = float(os.environ.get("EVAL_EVERY", 30))
SAMPLES_LATEST_START = float(os.environ.get("SAMPLES_LATEST_START", 385))


def log(*a):
    print("[%6.1fs]" % (time.time() - T0), *a, flush=True)


def elapsed():
    return time.time() - T0


def write_json(path, obj, compact=False):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        if compact:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        else:
            json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def write_texts(path, texts):
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")


def h32(s):
    return int(hashlib.sha256(s.encode("utf-8")).hexdigest()[:8], 16)


def doc_text(d, max_words=None):
    """Paragraphs joined by a blank line, stopping after max_words words (whole paragraphs)."""
    out, n = [], 0
    for p in d["p"]:
        out.append(p)
        n += len(p.split())
        if max_words and n >= max_words:
            break
    return "\n\n".join(out)


def round_robin(docs, n, per_pkg, min_words, max_words, seed):
    """n texts spread over labels, then packages (at most per_pkg documents of one package)."""
    rng = random.Random(seed)
    by_label = collections.defaultdict(list)
    for d in docs:
        if sum(len(p.split()) for p in d["p"]) >= min_words:
            by_label[d["l"]].append(d)
    queues = {}
    for lab in sorted(by_label):
        lst = sorted(by_label[lab], key=lambda d: (d["g"], d["p"][0]))
        rng.shuffle(lst)
        queues[lab] = lst
    used = collections.Counter()
    picked = []
    while len(picked) < n and any(queues.values()):
        for lab in sorted(queues):
            while queues[lab] and len(picked) < n:
                d = queues[lab].pop()
                if used[d["g"]] < per_pkg:
                    used[d["g"]] += 1
                    picked.append(d)
                    break
    return picked


def prepare(corpus):
    with lzma.open(corpus, "rt", encoding="utf-8") as f:
        docs = [json.loads(l) for l in f if l.strip()]
    train_all = [d for d in docs if d["s"] == "train"]
    eval_docs = [d for d in docs if d["s"] == "eval"]
    # validation packages: ~4% of the training packages, for the early-stopping choice only
    val_docs = [d for d in train_all if h32("val:" + d["g"]) % 25 == 0]
    rest = [d for d in train_all if h32("val:" + d["g"]) % 25 != 0]
    calib_docs = round_robin(rest, N_CALIB, 2, 60, 160, SEED + 2)
    calib_ids = set(id(d) for d in calib_docs)
    train_docs = [d for d in rest if id(d) not in calib_ids]
    # 40 spare candidates: texts under EVAL_MIN_TOKENS tokens are dropped once the tokenizer exists
    eval_cand = round_robin(eval_docs, N_EVAL + 40, 4, 120, None, SEED + 3)
    eval_texts = [doc_text(d, 240) for d in eval_cand]
    calib_texts = [doc_text(d, 160) for d in calib_docs]
    train_texts = [doc_text(d) for d in train_docs]
    val_texts = [doc_text(d) for d in val_docs]
    assert not (set(d["g"] for d in eval_cand) & set(d["g"] for d in train_docs + calib_docs + val_docs))
    assert not (set(d["g"] for d in val_docs) & set(d["g"] for d in train_docs + calib_docs))
    info = {"documents": len(docs), "train_docs": len(train_docs), "val_docs": len(val_docs),
            "calib_docs": len(calib_docs), "eval_candidates": len(eval_cand),
            "train_words": sum(len(t.split()) for t in train_texts),
            "val_words": sum(len(t.split()) for t in val_texts),
            "eval_labels": dict(sorted(collections.Counter(d["l"] for d in eval_cand[:N_EVAL]).items())),
            "eval_packages": len(set(d["g"] for d in eval_cand[:N_EVAL]))}
    return train_texts, val_texts, calib_texts, eval_texts, info


def build_tokenizer(texts):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())   # no unk token, no dropout: byte-level covers every input
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tok


def save_tokenizer(tok, mdir):
    tok.save(os.path.join(mdir, "tokenizer.json"))
    # written by hand (not by transformers' save_pretrained) so that the file is the same whatever
    # transformers version made it; GPT2Tokenizer is what AutoTokenizer maps a gpt2 model to
    write_json(os.path.join(mdir, "tokenizer_config.json"), {
        "tokenizer_class": "GPT2Tokenizer", "model_max_length": CTX, "add_prefix_space": False,
        "bos_token": EOT, "eos_token": EOT, "unk_token": EOT, "pad_token": EOT,
        "clean_up_tokenization_spaces": False, "padding_side": "left"})
    write_json(os.path.join(mdir, "special_tokens_map.json"), {
        "bos_token": EOT, "eos_token": EOT, "unk_token": EOT, "pad_token": EOT})


def check_hf_tokenizer(mdir, tok, texts):
    try:
        from transformers import AutoTokenizer
        hf = AutoTokenizer.from_pretrained(mdir)
        bad = 0
        for t in texts:
            a = hf(t, add_special_tokens=True)["input_ids"]
            b = tok.encode(t).ids
            if a != b or hf.decode(a) != t:
                bad += 1
        log("AutoTokenizer (%s): %d/%d texts differ from tokenizers' ids or do not round-trip" % (
            type(hf).__name__, bad, len(texts)))
        return bad
    except Exception:
        log("AutoTokenizer check failed\n" + traceback.format_exc())
        return -1


def r6(x):
    return float("%.6g" % x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dry-run", action="store_true", help="data preparation only (no tokenizer, no torch)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    mdir = os.path.join(args.out, "model")
    ddir = os.path.join(args.out, "data")
    os.makedirs(mdir, exist_ok=True)
    os.makedirs(ddir, exist_ok=True)
    metrics = {"made_by": "scripts/make-gpt-model/train_gpt.py"}

    train_texts, val_texts, calib_texts, eval_cand, info = prepare(args.corpus)
    metrics["data"] = info
    log("data", json.dumps(info))
    write_texts(os.path.join(ddir, "calib.jsonl"), calib_texts)
    if args.dry_run:
        write_texts(os.path.join(ddir, "eval-candidates.jsonl"), eval_cand)
        log("dry run: data preparation done; eval text words min/median %d/%d" % (
            min(len(t.split()) for t in eval_cand), sorted(len(t.split()) for t in eval_cand)[len(eval_cand) // 2]))
        return 0

    import tokenizers
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel, GenerationConfig
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "numpy": np.__version__}
    metrics["versions"] = versions
    log("versions", versions)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(4)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log("device", device, torch.cuda.get_device_name(0) if device.type == "cuda" else "")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True

    # ---------------- tokenizer ----------------
    tok = build_tokenizer(train_texts)
    eot_id = tok.token_to_id(EOT)
    log("tokenizer: vocab %d, %s id %d" % (tok.get_vocab_size(), EOT, eot_id))
    save_tokenizer(tok, mdir)
    eval_enc = [e.ids for e in tok.encode_batch(eval_cand)]
    keep = [i for i, ids in enumerate(eval_enc) if len(ids) >= EVAL_MIN_TOKENS][:N_EVAL]
    eval_texts = [eval_cand[i] for i in keep]
    eval_ids = [eval_enc[i] for i in keep]
    write_texts(os.path.join(ddir, "eval.jsonl"), eval_texts)
    # the Python token ids of every eval and calibration text: the JS tokenizer test compares against them
    # (the first 256 ids of each eval text, the perplexity window, and a sha256 of every text's full
    # id list, "id,id,...", to stay small)
    calib_ids = [e.ids for e in tok.encode_batch(calib_texts)]

    def sha(ids):
        return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()
    write_json(os.path.join(ddir, "token-ids.json"), {
        "tokenizers": tokenizers.__version__, "add_special_tokens": False,
        "eval_first_256": [x[:PPL_MAX_TOKENS] for x in eval_ids],
        "eval_full": [{"n": len(x), "sha256": sha(x)} for x in eval_ids],
        "calib_full": [{"n": len(x), "sha256": sha(x)} for x in calib_ids]}, compact=True)
    lens = sorted(len(x) for x in eval_ids)
    log("eval texts %d (tokens min %d median %d max %d; predicted tokens for perplexity %d)" % (
        len(eval_ids), lens[0], lens[len(lens) // 2], lens[-1], sum(min(len(x), PPL_MAX_TOKENS) - 1 for x in eval_ids)))
    metrics["hf_tokenizer_mismatches"] = check_hf_tokenizer(mdir, tok, eval_texts[:32] + calib_texts[:8])

    # ---------------- data ----------------
    def stream_of(texts):
        out = []
        for e in tok.encode_batch(texts):
            out.extend(e.ids)
            out.append(eot_id)
        return np.array(out, dtype=np.int64)
    order = list(range(len(train_texts)))
    random.Random(SEED + 1).shuffle(order)
    train_stream = stream_of([train_texts[i] for i in order])
    val_stream = stream_of(val_texts)
    n_val_rows = min(96, len(val_stream) // (CTX + 1))
    val_rows = val_stream[:n_val_rows * (CTX + 1)].reshape(n_val_rows, CTX + 1)
    metrics["data"].update({"train_tokens": int(len(train_stream)), "val_tokens": int(len(val_stream)),
                            "val_rows": int(n_val_rows)})
    log("train stream %d tokens (%.2f tokens/word), val rows %d" % (
        len(train_stream), len(train_stream) / max(1, info["train_words"]), n_val_rows))

    # ---------------- model ----------------
    cfg = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=CTX, n_embd=MODEL["n_embd"],
                     n_layer=MODEL["n_layer"], n_head=MODEL["n_head"], activation_function="gelu_new",
                     resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1, layer_norm_epsilon=1e-5,
                     bos_token_id=eot_id, eos_token_id=eot_id, tie_word_embeddings=True)
    cfg.architectures = ["GPT2LMHeadModel"]
    torch.manual_seed(SEED)
    model = GPT2LMHeadModel(cfg)
    try:
        model.set_attn_implementation("sdpa")
    except Exception:
        pass
    model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    metrics["params"] = int(n_params)
    log("GPT2LMHeadModel %s: %d parameters (fp16 ~%.2f MB)" % (MODEL, n_params, n_params * 2 / 1e6))

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.95), eps=1e-8, fused=device.type == "cuda")
    data = torch.from_numpy(train_stream).to(device)
    vrows = torch.from_numpy(val_rows).to(device)
    gen = torch.Generator(device=device)
    gen.manual_seed(SEED)
    ar = torch.arange(CTX + 1, device=device)
    autocast = dict(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def eval_ppl_fast(m, id_lists):
        """Perplexity with the definition of reference.json, on the training device (bf16)."""
        m.eval()
        nll, cnt = 0.0, 0
        with torch.no_grad(), torch.autocast(**autocast):
            for ids in id_lists:
                x = torch.tensor([ids[:PPL_MAX_TOKENS]], device=device)
                lg = m(input_ids=x).logits.float()
                nll += float(torch.nn.functional.cross_entropy(lg[0, :-1], x[0, 1:], reduction="sum"))
                cnt += x.shape[1] - 1
        m.train()
        return math.exp(nll / cnt)

    def val_loss(m):
        m.eval()
        tot = 0.0
        with torch.no_grad(), torch.autocast(**autocast):
            for i in range(0, len(vrows), 32):
                r = vrows[i:i + 32]
                lg = m(input_ids=r[:, :-1]).logits.float()
                tot += float(torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), r[:, 1:].reshape(-1))) * len(r)
        m.train()
        return tot / len(vrows)

    def save_fp16(state, tag):
        cpu = GPT2LMHeadModel(cfg)
        cpu.load_state_dict(state)
        cpu.half()
        cpu.save_pretrained(mdir)
        GenerationConfig(bos_token_id=eot_id, eos_token_id=eot_id, pad_token_id=eot_id, do_sample=False,
                         max_new_tokens=32).save_pretrained(mdir)
        log("saved %s model: model.safetensors %d bytes" % (tag, os.path.getsize(os.path.join(mdir, "model.safetensors"))))

    model.train()
    t_start = elapsed()
    budget = max(30.0, TRAIN_END - t_start)
    step, tokens_seen = 0, 0
    next_eval = elapsed() + EVAL_EVERY
    checkpoint_done = False
    best = (float("inf"), None, -1)
    history = []
    loss_acc, loss_n = 0.0, 0
    log("training until %.0fs (budget %.0fs), batch %d x %d, lr %g" % (TRAIN_END, budget, BATCH, CTX, LR))
    while True:
        now = elapsed()
        frac = (now - t_start) / budget
        done = frac >= 1.0
        if now >= next_eval or done:
            vl = val_loss(model)
            ep = eval_ppl_fast(model, eval_ids)
            tl = loss_acc / max(1, loss_n)
            loss_acc, loss_n = 0.0, 0
            history.append({"t": round(now, 1), "step": step, "tokens": tokens_seen, "train_loss": round(tl, 4),
                            "val_loss": round(vl, 4), "eval_ppl_bf16": round(ep, 3)})
            log("step %6d tokens %5.1fM epoch %5.2f train loss %.4f | val loss %.4f ppl %.2f | eval ppl %.2f | lr %.2e" % (
                step, tokens_seen / 1e6, tokens_seen / len(train_stream), tl, vl, math.exp(vl), ep,
                opt.param_groups[0]["lr"]))
            if vl < best[0]:
                best = (vl, {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()}, step)
            next_eval = now + EVAL_EVERY
            if not checkpoint_done and now >= CHECKPOINT_AT:
                try:
                    save_fp16(best[1], "checkpoint (step %d)" % best[2])
                except Exception:
                    log("checkpoint save failed\n" + traceback.format_exc())
                checkpoint_done = True
            metrics["history"] = history
            write_json(os.path.join(args.out, "metrics.json"), metrics)
            if done:
                break
        lr = LR * min(1.0, (step + 1) / WARMUP) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(data) - CTX - 1, (BATCH,), device=device, generator=gen)
        rows = data[starts[:, None] + ar[None, :]]
        with torch.autocast(**autocast):
            logits = model(input_ids=rows[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens_seen += BATCH * CTX
        if step % 20 == 0:
            loss_acc += float(loss)
            loss_n += 1
    metrics.update({"steps": step, "tokens_seen": tokens_seen, "train_seconds": round(elapsed() - t_start, 1),
                    "best_step": best[2], "best_val_loss": round(best[0], 4)})
    log("training done: %d steps, %.1fM tokens; best val loss %.4f at step %d" % (step, tokens_seen / 1e6, best[0], best[2]))
    save_fp16(best[1], "final (best validation, step %d)" % best[2])
    del model, opt, data
    if device.type == "cuda":
        torch.cuda.empty_cache()

    # ---------------- reference (float32 CPU eager, from the fp16 file) ----------------
    ref_model = GPT2LMHeadModel.from_pretrained(mdir, dtype=torch.float32, attn_implementation="eager")
    ref_model.eval()
    log("reference model: dtype %s, attention %s" % (next(ref_model.parameters()).dtype,
                                                     getattr(ref_model.config, "_attn_implementation", "?")))

    def vec(t):
        return [r6(v) for v in t.tolist()]

    ref = {"model": "models/gpt-debian", "made_by": "scripts/make-gpt-model/train_gpt.py",
           "weights": "fp16 safetensors cast to float32; CPU; eager attention", "versions": versions,
           "logits_rounding": "6 significant digits", "prompt_tokens": PROMPT_TOKENS,
           "perplexity_definition": ("for each text of data/gpt-debian/eval.jsonl: ids = tokenizer(text) without "
                                     "special tokens, truncated to the first 256; NLL = -sum_{i=1..n-1} log "
                                     "softmax(logits[i-1])[ids[i]] with the model run once on ids (batch 1, no "
                                     "padding); perplexity = exp(sum of NLL over all texts / sum of (n-1))")}
    with torch.no_grad():
        prompts = []
        for k in range(REF_PROMPTS):
            ids = eval_ids[k][:PROMPT_TOKENS]
            x = torch.tensor([ids])
            mask = torch.ones_like(x)
            o = ref_model(input_ids=x, attention_mask=mask, use_cache=True)
            past = o.past_key_values
            lg = o.logits[0, -1]
            nxt = int(lg.argmax())
            entry = {"text_index": k, "input_ids": [ids], "attention_mask": mask.tolist(),
                     "position_ids": [list(range(len(ids)))], "prefill_logits_last": vec(lg),
                     "prefill_argmax": nxt, "decode": []}
            generated = [nxt]
            for s in range(REF_DECODE_STEPS):
                mask = torch.cat([mask, torch.ones((1, 1), dtype=torch.long)], 1)
                pos = torch.tensor([[mask.shape[1] - 1]])
                o = ref_model(input_ids=torch.tensor([[nxt]]), attention_mask=mask, position_ids=pos,
                              past_key_values=past, use_cache=True)
                past = o.past_key_values
                lg = o.logits[0, -1]
                entry["decode"].append({"input_ids": [[nxt]], "position_ids": pos.tolist(), "logits": vec(lg),
                                        "argmax": int(lg.argmax())})
                nxt = int(lg.argmax())
                generated.append(nxt)
            entry["greedy_ids"] = generated
            entry["greedy_text"] = tok.decode(generated)
            prompts.append(entry)
            log("reference prompt %d: %r -> %r" % (k, tok.decode(ids), entry["greedy_text"]))
        ref["prompts"] = prompts
        # left-padded batch of two prompts of different lengths (pad = <|endoftext|>)
        b_ids = [eval_ids[2][:PROMPT_TOKENS], eval_ids[3][:PROMPT_TOKENS - 6]]
        L = max(len(r) for r in b_ids)
        x = torch.full((2, L), eot_id, dtype=torch.long)
        mask = torch.zeros((2, L), dtype=torch.long)
        for i, r in enumerate(b_ids):
            x[i, L - len(r):] = torch.tensor(r)
            mask[i, L - len(r):] = 1
        pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
        o = ref_model(input_ids=x, attention_mask=mask, position_ids=pos, use_cache=True)
        past = o.past_key_values
        lg = o.logits[:, -1]
        batch = {"text_indices": [2, 3], "pad_token_id": eot_id, "input_ids": x.tolist(),
                 "attention_mask": mask.tolist(), "position_ids": pos.tolist(),
                 "prefill_logits_last": [vec(r) for r in lg], "decode": []}
        nxt = lg.argmax(-1)
        batch["prefill_argmax"] = nxt.tolist()
        gen_rows = [nxt.tolist()]
        for s in range(REF_DECODE_STEPS):
            mask = torch.cat([mask, torch.ones((2, 1), dtype=torch.long)], 1)
            spos = (mask.cumsum(-1) - 1)[:, -1:]
            o = ref_model(input_ids=nxt[:, None], attention_mask=mask, position_ids=spos,
                          past_key_values=past, use_cache=True)
            past = o.past_key_values
            lg = o.logits[:, -1]
            step_entry = {"input_ids": nxt[:, None].tolist(), "position_ids": spos.tolist(),
                          "argmax": lg.argmax(-1).tolist()}
            if s == 0:   # logits of the first step only, to keep the file small
                step_entry["logits"] = [vec(r) for r in lg]
            batch["decode"].append(step_entry)
            nxt = lg.argmax(-1)
            gen_rows.append(nxt.tolist())
        batch["greedy_ids"] = [[g[i] for g in gen_rows] for i in range(2)]
        # batch 1 greedy of the same prompts: left padding must not change the tokens
        ref["batch"] = batch
        ref_greedy_b1 = []
        for r in b_ids:
            xx = torch.tensor([r])
            seq = []
            for s in range(REF_DECODE_STEPS + 1):
                t = int(ref_model(input_ids=xx).logits[0, -1].argmax())
                seq.append(t)
                xx = torch.cat([xx, torch.tensor([[t]])], 1)
            ref_greedy_b1.append(seq)
        log("batch greedy %s; batch-1 greedy without cache %s; equal: %s" % (
            batch["greedy_ids"], ref_greedy_b1, batch["greedy_ids"] == ref_greedy_b1))
        write_json(os.path.join(mdir, "reference.json"), ref, compact=True)
        log("reference.json (prompts + batch) %d bytes" % os.path.getsize(os.path.join(mdir, "reference.json")))
        # FP32 perplexity
        nlls, cnts = [], []
        for ids in eval_ids:
            xx = torch.tensor([ids[:PPL_MAX_TOKENS]])
            lgf = ref_model(input_ids=xx).logits[0]
            nlls.append(float(torch.nn.functional.cross_entropy(lgf[:-1].double(), xx[0, 1:], reduction="sum")))
            cnts.append(xx.shape[1] - 1)
        ppl = math.exp(sum(nlls) / sum(cnts))
        ref["eval_perplexity"] = {"texts": len(eval_ids), "predicted_tokens": sum(cnts), "perplexity": round(ppl, 6),
                                  "mean_nll": round(sum(nlls) / sum(cnts), 8),
                                  "per_text_nll_sum": [round(v, 5) for v in nlls], "per_text_count": cnts}
        write_json(os.path.join(mdir, "reference.json"), ref, compact=True)
        metrics["eval_perplexity_fp32"] = round(ppl, 4)
        log("FP32 CPU perplexity on %d eval texts (%d predicted tokens): %.4f" % (len(eval_ids), sum(cnts), ppl))
    sizes = {fn: os.path.getsize(os.path.join(mdir, fn)) for fn in sorted(os.listdir(mdir))}
    metrics["files"] = sizes
    write_json(os.path.join(args.out, "metrics.json"), metrics)
    log("model files", sizes)

    # ---------------- samples (if time is left) ----------------
    samples = []
    try:
        with torch.no_grad():
            for k in range(4, 12):
                if elapsed() > SAMPLES_LATEST_START:
                    break
                ids = eval_ids[k][:PROMPT_TOKENS]
                outg = ref_model.generate(torch.tensor([ids]), attention_mask=torch.ones((1, len(ids)), dtype=torch.long),
                                          max_new_tokens=32, do_sample=False, pad_token_id=eot_id)
                txt = tok.decode(outg[0, len(ids):].tolist())
                samples.append({"prompt": tok.decode(ids), "greedy": txt})
                log("sample %r -> %r" % (tok.decode(ids), txt))
    except Exception:
        log("samples failed\n" + traceback.format_exc())
    metrics["samples"] = samples
    write_json(os.path.join(args.out, "metrics.json"), metrics)
    log("all done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
