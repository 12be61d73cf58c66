#!/usr/bin/env python3
"""Tiny random *ForQuestionAnswering checkpoints + PyTorch start/end logits, one per family.

For src/export/qa-head.test.ts: BERT, RoBERTa, XLM-RoBERTa, DistilBERT and ELECTRA question
answering models (qa_outputs: Linear(hidden, 2), split into start and end logits), weights drawn
wider than transformers' init (as src/export/fixtures/make_fixtures.py does), saved with
save_pretrained, and reference.json with each question+context pair's ids, token types (1 on the
context for the families that have token types and two of them) and the float32 start/end logits of
each pair alone (batch 1, attention_mask=1). Needs torch and transformers:

    python3 scripts/make-qa-model/make_qa_fixtures.py OUTDIR
"""
import json
import os
import sys

import torch
import transformers as T

OUT = sys.argv[1]
SMALL = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
DISTIL = dict(vocab_size=100, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=40)
ROBERTA = dict(SMALL, max_position_embeddings=42, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2)

CASES = [
    ("bert-qa", "BertConfig", dict(SMALL, max_position_embeddings=40), "BertForQuestionAnswering"),
    ("roberta-qa", "RobertaConfig", ROBERTA, "RobertaForQuestionAnswering"),
    ("xlm-roberta-qa", "XLMRobertaConfig", ROBERTA, "XLMRobertaForQuestionAnswering"),
    ("distilbert-qa", "DistilBertConfig", DISTIL, "DistilBertForQuestionAnswering"),
    ("electra-qa", "ElectraConfig", dict(SMALL, embedding_size=16, max_position_embeddings=40), "ElectraForQuestionAnswering"),
]


def widen(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen) * 0.1
            p.copy_(1 + noise if ("LayerNorm.weight" in name or "layer_norm.weight" in name) else noise)


def main():
    gen = torch.Generator().manual_seed(20261201)
    torch.manual_seed(20261201)
    index = {"transformers": T.__version__, "torch": torch.__version__, "cases": []}
    for name, cfg_cls, args, model_cls in CASES:
        config = getattr(T, cfg_cls)(**args)
        model = getattr(T, model_cls)(config).eval()
        widen(model, gen)
        roberta = "roberta" in name
        cls, sep = (0, 2) if roberta else (2, 3)
        items = []
        for q_len, c_len in ((3, 5), (5, 12), (2, 20), (6, 9)):
            q = torch.randint(3, config.vocab_size, (q_len,), generator=gen).tolist()
            c = torch.randint(3, config.vocab_size, (c_len,), generator=gen).tolist()
            if roberta:  # <s> q </s></s> c </s>
                ids = [cls] + q + [sep, sep] + c + [sep]
                types = [0] * len(ids)
            else:        # [CLS] q [SEP] c [SEP]
                ids = [cls] + q + [sep] + c + [sep]
                types = [0] * (q_len + 2) + [1] * (c_len + 1)
            feeds = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
            if "distilbert" not in name:
                feeds["token_type_ids"] = torch.tensor([types])
            with torch.no_grad():
                out = model(**feeds)
            items.append({
                "ids": ids,
                "token_type_ids": types,
                "start_logits": [round(float(v), 6) for v in out.start_logits[0]],
                "end_logits": [round(float(v), 6) for v in out.end_logits[0]],
            })
        d = os.path.join(OUT, name)
        model.save_pretrained(d)
        ref = {"case": name, "architecture": model_cls, "pad_token_id": config.pad_token_id, "items": items}
        with open(os.path.join(d, "reference.json"), "w") as f:
            json.dump(ref, f, indent=1)
        index["cases"].append({"case": name, "files": sorted(os.listdir(d))})
        print(name, sorted(os.listdir(d)), flush=True)
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)


if __name__ == "__main__":
    main()
