#!/usr/bin/env python3
"""PyTorch reference fixtures for the native decoder export (issue 15 item 1).

Three tiny seeded random decoders made with transformers' own classes (GPT2LMHeadModel,
LlamaForCausalLM, Qwen2ForCausalLM), float32, CPU, eager attention. For each one it writes
<out>/<name>/config.json, model.safetensors and reference.json in the layout of
/work/notes/decoder-contract.md:
  input_ids, attention_mask, position_ids   the prompt (batch 1)
  prefill_logits   [1][2][vocab]  logits at the last 2 prompt positions
  decode           4 greedy steps with past_key_values: input_ids [[t]], attention_mask,
                   position_ids, logits [1][vocab] of the step, argmax
  batch            a left-padded batch of 2 prompts of different lengths, the same fields, with
                   attention_mask and position_ids as HF generate builds them (cumsum(mask) - 1,
                   pads set to 1)
The random init is scaled up (std 0.2, norms 1 +- 0.1, biases +- 0.1) so that the logits are
spread out and the greedy argmax is stable against float rounding in another implementation.
A consistency check prints the largest difference between the cached decode logits and a full
forward pass without cache over the same tokens.

Usage: python3 scripts/make-gpt-model/decoder_fixtures.py --out DIR
"""
import argparse
import json
import os
import sys
import time

T0 = float(os.environ.get("JOB_T0") or time.time())
SEED = 20261201
DECODE_STEPS = 4
STD = 0.2

# hidden 48 with 4 heads (head_dim 12) keeps each float32 safetensors under 300 KB
FIXTURES = {
    "gpt2-tiny": ("GPT2", dict(vocab_size=256, n_positions=128, n_embd=48, n_layer=2, n_head=4, n_inner=96,
                               activation_function="gelu_new", layer_norm_epsilon=1e-5,
                               bos_token_id=0, eos_token_id=0, tie_word_embeddings=True,
                               resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)),
    "llama-tiny": ("Llama", dict(vocab_size=256, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                 rope_theta=10000.0, rms_norm_eps=1e-6, hidden_act="silu",
                                 tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
                                 bos_token_id=1, eos_token_id=2)),
    "qwen2-tiny": ("Qwen2", dict(vocab_size=256, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                 rope_theta=10000.0, rms_norm_eps=1e-6, hidden_act="silu",
                                 tie_word_embeddings=True, use_sliding_window=False,
                                 bos_token_id=1, eos_token_id=2)),
}
PROMPT = [5, 17, 99, 3, 250, 42, 8, 131, 77, 200, 11]
BATCH = [[9, 140, 33, 71, 5, 222, 18], [64, 3, 190, 27]]


def log(*a):
    print("[%6.1fs] fixtures:" % (time.time() - T0), *a, flush=True)


def r6(x):
    return float("%.6g" % x)


def rows(t):
    """[B, V] tensor -> nested lists rounded to 6 significant digits."""
    return [[r6(v) for v in row] for row in t.tolist()]


def make_model(kind, kw):
    import torch
    import transformers
    cfg_cls = getattr(transformers, kind + "Config")
    model_cls = getattr(transformers, kind + "ForCausalLM" if kind != "GPT2" else "GPT2LMHeadModel")
    cfg = cfg_cls(**kw)
    try:
        cfg._attn_implementation = "eager"
    except Exception:
        pass
    torch.manual_seed(SEED)
    model = model_cls(cfg)
    try:
        model.set_attn_implementation("eager")
    except Exception as e:
        log("set_attn_implementation failed (%s); config says %s" % (e, getattr(cfg, "_attn_implementation", "?")))
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * STD)
            elif "norm" in name or ".ln_" in name or name.startswith("ln_") or "ln_f" in name:
                if name.endswith("bias"):
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)
                else:
                    p.copy_(1.0 + torch.randn(p.shape, generator=g) * 0.1)
            else:   # linear biases (GPT-2 Conv1D, Qwen2 q/k/v)
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    model.eval()
    return model


def positions(mask):
    pos = mask.long().cumsum(-1) - 1
    return pos.masked_fill(mask == 0, 1)


def run_case(model, ids_rows, steps, n_last):
    """Left-pad the rows, prefill, then `steps` greedy steps with the cache."""
    import torch
    L = max(len(r) for r in ids_rows)
    ids = torch.zeros((len(ids_rows), L), dtype=torch.long)
    mask = torch.zeros((len(ids_rows), L), dtype=torch.long)
    for i, r in enumerate(ids_rows):
        ids[i, L - len(r):] = torch.tensor(r)
        mask[i, L - len(r):] = 1
    pos = positions(mask)
    out = {"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "position_ids": pos.tolist()}
    with torch.no_grad():
        o = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
        out["prefill_logits"] = [rows(o.logits[b, -n_last:]) for b in range(len(ids_rows))]
        past = o.past_key_values
        nxt = o.logits[:, -1].argmax(-1)
        out["prefill_argmax"] = nxt.tolist()
        all_ids, all_mask = ids, mask
        step_logits = []
        dec = []
        for _ in range(steps):
            step_ids = nxt.unsqueeze(1)
            all_mask = torch.cat([all_mask, torch.ones((len(ids_rows), 1), dtype=torch.long)], 1)
            step_pos = (all_mask.cumsum(-1) - 1)[:, -1:]
            o = model(input_ids=step_ids, attention_mask=all_mask, position_ids=step_pos,
                      past_key_values=past, use_cache=True)
            past = o.past_key_values
            lg = o.logits[:, -1]
            step_logits.append(lg)
            nxt = lg.argmax(-1)
            all_ids = torch.cat([all_ids, step_ids], 1)
            dec.append({"input_ids": step_ids.tolist(), "attention_mask": all_mask.tolist(),
                        "position_ids": step_pos.tolist(), "logits": rows(lg), "argmax": nxt.tolist()})
            # argmax margin: how far the winner is ahead, so a consumer can judge its tolerance
            top2 = lg.topk(2, -1).values
            dec[-1]["top2_margin"] = [r6(v) for v in (top2[:, 0] - top2[:, 1]).tolist()]
        out["decode"] = dec
        # the same tokens without cache: the last `steps` positions must match the decode logits
        full = model(input_ids=all_ids, attention_mask=all_mask, position_ids=positions(all_mask), use_cache=False)
        diff = max(float((full.logits[:, -steps - 1 + k] - step_logits[k - 1]).abs().max())
                   for k in range(1, steps + 1)) if steps else 0.0
        out["check_max_abs_diff_cache_vs_full"] = diff
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import torch
    import transformers
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "4")))
    for name, (kind, kw) in FIXTURES.items():
        try:
            d = os.path.join(args.out, name)
            os.makedirs(d, exist_ok=True)
            model = make_model(kind, kw)
            model.save_pretrained(d)
            for extra in ("generation_config.json",):
                if os.path.exists(os.path.join(d, extra)):
                    os.remove(os.path.join(d, extra))
            # the reference comes from the saved files, loaded back as a consumer loads them
            model = getattr(transformers, type(model).__name__).from_pretrained(
                d, dtype=torch.float32, attn_implementation="eager")
            model.eval()
            ref = {"model": name, "made_by": "scripts/make-gpt-model/decoder_fixtures.py",
                   "torch": torch.__version__, "transformers": transformers.__version__,
                   "dtype": "float32", "attn_implementation": getattr(model.config, "_attn_implementation", None),
                   "logits_rounding": "6 significant digits"}
            single = run_case(model, [PROMPT], DECODE_STEPS, 2)
            ref.update({k: single[k] for k in ("input_ids", "attention_mask", "position_ids", "prefill_logits",
                                                "prefill_argmax", "decode", "check_max_abs_diff_cache_vs_full")})
            ref["batch"] = run_case(model, BATCH, DECODE_STEPS, 2)
            with open(os.path.join(d, "reference.json"), "w") as f:
                json.dump(ref, f, separators=(",", ":"))
                f.write("\n")
            sizes = {fn: os.path.getsize(os.path.join(d, fn)) for fn in sorted(os.listdir(d))}
            greedy = [single["prefill_argmax"][0]] + [s["argmax"][0] for s in single["decode"]]
            margins = [s["top2_margin"][0] for s in single["decode"]]
            log("%s: params %d, files %s, greedy %s, top2 margins %s, cache-vs-full max diff %.3g / batch %.3g" % (
                name, sum(p.numel() for p in model.parameters()), sizes, greedy, margins,
                single["check_max_abs_diff_cache_vs_full"], ref["batch"]["check_max_abs_diff_cache_vs_full"]))
        except Exception:
            import traceback
            log("%s FAILED\n%s" % (name, traceback.format_exc()))
    log("done")


if __name__ == "__main__":
    sys.exit(main())
