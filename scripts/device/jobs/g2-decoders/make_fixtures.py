#!/usr/bin/env python3
"""PyTorch reference fixtures for the decoder options the first fixtures leave out (issue 15 item 1).

tests/fixtures/decoders/{gpt2,llama,qwen2}-tiny (scripts/make-gpt-model/decoder_fixtures.py) cover
the plain families. These cover the options src/export/decoder/ implements beyond them, each in a
tiny seeded random model made with transformers' own classes (float32, CPU, eager attention):
  gpt2-untied-tiny    tie_word_embeddings false (own lm_head), scale_attn_weights false, exact gelu
  llama-bias-tiny     attention_bias + mlp_bias, head_dim 16 != hidden/heads, tied head, rope_theta 500
  llama-rope3-tiny    rope_type llama3 (factor 8, low 1, high 4, original 64): all three frequency bands
  llama-linear-tiny   rope_type linear (factor 4)
  mistral-window-tiny sliding_window 4 (shorter than the prompt), one KV head
Same reference.json layout as the first fixtures (decoder-contract.md): the prompt, prefill logits
at the last 2 positions, 4 greedy decode steps with the cache, and a left-padded batch of 2.

Usage: python3 make_fixtures.py --out DIR
"""
import argparse
import json
import os
import sys
import time

T0 = time.time()
SEED = 20261202
STEPS = 4
PROMPT = [5, 17, 99, 3, 250, 42, 8, 131, 77, 200, 11]
BATCH = [[9, 140, 33, 71, 5, 222, 18], [64, 3, 190, 27]]

COMMON_LLAMA = dict(vocab_size=256, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                    rms_norm_eps=1e-6, hidden_act="silu", bos_token_id=1, eos_token_id=2)

FIXTURES = {
    "gpt2-untied-tiny": ("GPT2", dict(vocab_size=256, n_positions=128, n_embd=48, n_layer=2, n_head=4, n_inner=96,
                                      activation_function="gelu", layer_norm_epsilon=1e-5, scale_attn_weights=False,
                                      tie_word_embeddings=False, bos_token_id=0, eos_token_id=0,
                                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0), None),
    "llama-bias-tiny": ("Llama", dict(COMMON_LLAMA, head_dim=16, attention_bias=True, mlp_bias=True,
                                      tie_word_embeddings=True), dict(rope_type="default", rope_theta=500.0)),
    "llama-rope3-tiny": ("Llama", dict(COMMON_LLAMA, head_dim=12, tie_word_embeddings=False),
                         dict(rope_type="llama3", rope_theta=10000.0, factor=8.0, low_freq_factor=1.0,
                              high_freq_factor=4.0, original_max_position_embeddings=64)),
    "llama-linear-tiny": ("Llama", dict(COMMON_LLAMA, tie_word_embeddings=False),
                          dict(rope_type="linear", rope_theta=10000.0, factor=4.0)),
    "mistral-window-tiny": ("Mistral", dict(COMMON_LLAMA, num_key_value_heads=1, sliding_window=4,
                                            tie_word_embeddings=False), dict(rope_type="default", rope_theta=10000.0)),
}


def log(*a):
    print("[%6.1fs] g2-decoders:" % (time.time() - T0), *a, flush=True)


def r6(x):
    return float("%.6g" % x)


def rows(t):
    return [[r6(v) for v in row] for row in t.tolist()]


def make_config(kind, kw, rope):
    import transformers
    cls = getattr(transformers, kind + "Config")
    if rope is None:
        return cls(**kw)
    # transformers 5 takes rope_parameters; 4.x took rope_theta + rope_scaling.
    try:
        cfg = cls(**kw, rope_parameters=dict(rope))
        got = getattr(cfg, "rope_parameters", None) or {}
        if got.get("rope_type", "default") == rope["rope_type"]:
            return cfg
        log("rope_parameters not kept (%r); trying rope_scaling" % (got,))
    except Exception as e:  # an unknown keyword, or validation of the rope parameters
        log("rope_parameters refused (%r); trying rope_scaling" % e)
    scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
    return cls(**kw, rope_theta=rope["rope_theta"], rope_scaling=None if scaling["rope_type"] == "default" else scaling)


def make_model(kind, kw, rope):
    import torch
    import transformers
    cfg = make_config(kind, kw, rope)
    model_cls = getattr(transformers, "GPT2LMHeadModel" if kind == "GPT2" else kind + "ForCausalLM")
    torch.manual_seed(SEED)
    model = model_cls(cfg)
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
            elif name.endswith("weight"):  # norms
                p.copy_(1.0 + torch.randn(p.shape, generator=g) * 0.1)
            else:  # every bias, norm or linear
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    model.eval()
    return model


def positions(mask):
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)


def run_case(model, ids_rows):
    import torch
    L = max(len(r) for r in ids_rows)
    ids = torch.zeros((len(ids_rows), L), dtype=torch.long)
    mask = torch.zeros((len(ids_rows), L), dtype=torch.long)
    for i, r in enumerate(ids_rows):
        ids[i, L - len(r):] = torch.tensor(r)
        mask[i, L - len(r):] = 1
    out = {"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "position_ids": positions(mask).tolist()}
    with torch.no_grad():
        o = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=True)
        out["prefill_logits"] = [rows(o.logits[b, -2:]) for b in range(len(ids_rows))]
        past, nxt = o.past_key_values, o.logits[:, -1].argmax(-1)
        out["prefill_argmax"] = nxt.tolist()
        all_ids, all_mask, dec, step_logits = ids, mask, [], []
        for _ in range(STEPS):
            step_ids = nxt.unsqueeze(1)
            all_mask = torch.cat([all_mask, torch.ones((len(ids_rows), 1), dtype=torch.long)], 1)
            step_pos = (all_mask.cumsum(-1) - 1)[:, -1:]
            o = model(input_ids=step_ids, attention_mask=all_mask, position_ids=step_pos, past_key_values=past, use_cache=True)
            past, lg = o.past_key_values, o.logits[:, -1]
            nxt = lg.argmax(-1)
            step_logits.append(lg)
            all_ids = torch.cat([all_ids, step_ids], 1)
            top2 = lg.topk(2, -1).values
            dec.append({"input_ids": step_ids.tolist(), "attention_mask": all_mask.tolist(), "position_ids": step_pos.tolist(),
                        "logits": rows(lg), "argmax": nxt.tolist(), "top2_margin": [r6(v) for v in (top2[:, 0] - top2[:, 1]).tolist()]})
        out["decode"] = dec
        full = model(input_ids=all_ids, attention_mask=all_mask, position_ids=positions(all_mask), use_cache=False)
        out["check_max_abs_diff_cache_vs_full"] = max(
            float((full.logits[:, -STEPS - 1 + k] - step_logits[k - 1]).abs().max()) for k in range(1, STEPS + 1))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import torch
    import transformers
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    failed = 0
    for name, (kind, kw, rope) in FIXTURES.items():
        try:
            d = os.path.join(args.out, name)
            os.makedirs(d, exist_ok=True)
            model = make_model(kind, kw, rope)
            model.save_pretrained(d)
            if os.path.exists(os.path.join(d, "generation_config.json")):
                os.remove(os.path.join(d, "generation_config.json"))
            model = getattr(transformers, type(model).__name__).from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
            model.eval()
            ref = {"model": name, "made_by": "scripts/device/jobs/g2-decoders/make_fixtures.py", "torch": torch.__version__,
                   "transformers": transformers.__version__, "dtype": "float32",
                   "attn_implementation": getattr(model.config, "_attn_implementation", None), "logits_rounding": "6 significant digits"}
            single = run_case(model, [PROMPT])
            ref.update(single)
            ref["batch"] = run_case(model, BATCH)
            with open(os.path.join(d, "reference.json"), "w") as f:
                json.dump(ref, f, separators=(",", ":"))
                f.write("\n")
            with open(os.path.join(d, "config.json")) as f:
                saved = json.load(f)
            log("%s: %d params, greedy %s, margins %s, cache-vs-full %.3g / batch %.3g, rope in config.json: %s" % (
                name, sum(p.numel() for p in model.parameters()),
                [single["prefill_argmax"][0]] + [s["argmax"][0] for s in single["decode"]],
                [s["top2_margin"][0] for s in single["decode"]], single["check_max_abs_diff_cache_vs_full"],
                ref["batch"]["check_max_abs_diff_cache_vs_full"],
                {k: saved.get(k) for k in ("rope_parameters", "rope_scaling", "rope_theta", "sliding_window") if k in saved}))
        except Exception:
            import traceback
            failed += 1
            log("%s FAILED\n%s" % (name, traceback.format_exc()))
    log("done, %d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
