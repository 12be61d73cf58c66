#!/usr/bin/env python3
"""Tiny random sentence-transformers models of every native family, saved as SentenceTransformer.save
writes them, with sentence-transformers' own embeddings of a few texts (reference.json).

Each case: a random transformers encoder (BERT, RoBERTa, XLM-RoBERTa, DistilBERT, ELECTRA with a
narrower embedding), a WordPiece tokenizer over a tiny vocabulary (its [PAD] at the family's
pad_token_id), wrapped in sentence_transformers.models.Transformer + Pooling (+ Normalize), saved,
loaded back with SentenceTransformer(path), and encoded. "bert-bare" is a BertModel saved with
save_pretrained only (no sentence-transformers files): the checkpoint a recipe names `task:
embedding` for; its reference is mean pooling without normalisation.

reference.json: {architecture, pad_token_id, output: "sentence_embedding", pooling, normalize,
items: [{ids, values}]}: ids as SentenceTransformer.tokenize gives them (no padding), values the
embedding SentenceTransformer.encode gives for the whole list in one call (it pads).
Usage: python3 make_st_fixtures.py OUT_DIR
"""
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch
import transformers
import sentence_transformers
from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer, decoders, models as tmodels, normalizers, pre_tokenizers, processors

try:
    from sentence_transformers import models as st_models
    Transformer, Pooling, Normalize = st_models.Transformer, st_models.Pooling, st_models.Normalize
except Exception:  # newer layouts
    from sentence_transformers.base.modules.transformer import Transformer  # type: ignore
    from sentence_transformers.sentence_transformer.modules.pooling import Pooling  # type: ignore
    from sentence_transformers.sentence_transformer.modules.normalize import Normalize  # type: ignore

try:
    from transformers import PreTrainedTokenizerFast as FastTokenizer
except Exception:
    from transformers import TokenizersBackend as FastTokenizer  # type: ignore

TEXTS = [
    "hello world",
    "the quick brown fox jumps over the lazy dog",
    "a file was not found",
    "cannot open the file for reading: permission denied",
    "the quick dog",
    "copy the files to the new folder and then remove the old folder please",
    "no",
    "world of files and folders",
]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_tokenizer(pad_id, input_names):
    words = sorted({w for t in TEXTS for w in t.split()})
    chars = sorted(set("abcdefghijklmnopqrstuvwxyz0123456789.,:;!?'-"))
    specials = list(SPECIALS)
    specials.remove("[PAD]")
    specials.insert(pad_id, "[PAD]")
    vocab_list = specials + chars + ["##" + c for c in chars] + [w for w in words if len(w) > 1]
    vocab = {t: i for i, t in enumerate(vocab_list)}
    tok = Tokenizer(tmodels.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.decoder = decoders.WordPiece()
    fast = FastTokenizer(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                         sep_token="[SEP]", mask_token="[MASK]", model_max_length=64, model_input_names=input_names)
    return fast, len(vocab_list)


def small(cfg_cls, **kw):
    base = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                max_position_embeddings=80, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    base.update(kw)
    return cfg_cls(**base)


def build(family, vocab_size, pad_id):
    T = transformers
    if family == "bert":
        return T.BertModel(small(T.BertConfig, vocab_size=vocab_size, pad_token_id=pad_id), add_pooling_layer=False)
    if family == "roberta":
        return T.RobertaModel(small(T.RobertaConfig, vocab_size=vocab_size, pad_token_id=pad_id, type_vocab_size=1,
                                    bos_token_id=2, eos_token_id=3, max_position_embeddings=82), add_pooling_layer=False)
    if family == "xlm-roberta":
        return T.XLMRobertaModel(small(T.XLMRobertaConfig, vocab_size=vocab_size, pad_token_id=pad_id, type_vocab_size=1,
                                       bos_token_id=2, eos_token_id=3, max_position_embeddings=82), add_pooling_layer=False)
    if family == "distilbert":
        cfg = T.DistilBertConfig(vocab_size=vocab_size, dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                 max_position_embeddings=80, dropout=0.0, attention_dropout=0.0, pad_token_id=pad_id)
        return T.DistilBertModel(cfg)
    if family == "electra":
        return T.ElectraModel(small(T.ElectraConfig, vocab_size=vocab_size, pad_token_id=pad_id, embedding_size=16))
    raise ValueError(family)


# (case, family, pooling, normalize, sentence-transformers layout?)
CASES = [
    ("bert-mean-norm", "bert", "mean", True, True),
    ("bert-cls", "bert", "cls", False, True),
    ("bert-max", "bert", "max", False, True),
    ("bert-bare", "bert", "mean", False, False),
    ("roberta-mean", "roberta", "mean", False, True),
    ("roberta-cls-norm", "roberta", "cls", True, True),
    ("xlm-roberta-mean-norm", "xlm-roberta", "mean", True, True),
    ("distilbert-mean", "distilbert", "mean", False, True),
    ("distilbert-cls-norm", "distilbert", "cls", True, True),
    ("electra-mean-norm", "electra", "mean", True, True),
    ("electra-cls", "electra", "cls", False, True),
]


def make_case(out_root, case, family, pooling, normalize, st_layout, seed):
    torch.manual_seed(seed)
    pad_id = 1 if family in ("roberta", "xlm-roberta") else 0
    names = ["input_ids", "attention_mask"] if family == "distilbert" else ["input_ids", "token_type_ids", "attention_mask"]
    tokenizer, vocab_size = make_tokenizer(pad_id, names)
    model = build(family, vocab_size, pad_id).eval()
    # Larger than the 0.02 default so the pooling modes give clearly different vectors.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.2)
            elif name.endswith("bias"):
                p.normal_(0, 0.1)
    out = os.path.join(out_root, case)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        transformer = Transformer(tmp, max_seq_length=64)
        modules = [transformer, Pooling(transformer.get_word_embedding_dimension(), pooling_mode=pooling)]
        if normalize:
            modules.append(Normalize())
        st = SentenceTransformer(modules=modules, device="cpu")
        if st_layout:
            st.save(out)
            for extra in ("README.md",):  # the model card: prose, not part of the model
                if os.path.exists(os.path.join(out, extra)):
                    os.remove(os.path.join(out, extra))
            st = SentenceTransformer(out, device="cpu")
        else:
            os.makedirs(out, exist_ok=True)
            for f in os.listdir(tmp):
                shutil.copy(os.path.join(tmp, f), os.path.join(out, f))
    st.eval()
    values = st.encode(TEXTS, batch_size=len(TEXTS), convert_to_numpy=True)
    alone = np.stack([st.encode([t], convert_to_numpy=True)[0] for t in TEXTS])
    items = []
    for t, v in zip(TEXTS, values):
        f = st.tokenize([t])
        ids = f["input_ids"][0][f["attention_mask"][0].bool()].tolist()
        items.append({"ids": ids, "values": [round(float(x), 7) for x in v]})
    ref = {
        "architecture": model.__class__.__name__,
        "pad_token_id": pad_id,
        "output": "sentence_embedding",
        "pooling": pooling,
        "normalize": normalize,
        "sentence_transformers_layout": st_layout,
        "tokenizer_outputs": sorted(st.tokenize([TEXTS[0]]).keys()),
        "items": items,
    }
    with open(os.path.join(out, "reference.json"), "w") as fh:
        json.dump(ref, fh, indent=1)
    files = sorted(os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs)
    dirs = sorted(os.path.relpath(os.path.join(d, x), out) for d, ds, _ in os.walk(out) for x in ds)
    print(f"{case}: ok; batch-vs-alone max|Δ| {np.abs(values - alone).max():.2e}; |v| {np.linalg.norm(values, axis=1).mean():.3f}; files {files}; dirs {dirs}", flush=True)
    return {"case": case, "files": files, "dirs": dirs}


def main():
    out_root = sys.argv[1]
    os.makedirs(out_root, exist_ok=True)
    print("torch", torch.__version__, "transformers", transformers.__version__, "sentence-transformers", sentence_transformers.__version__, flush=True)
    index = {"torch": torch.__version__, "transformers": transformers.__version__,
             "sentence_transformers": sentence_transformers.__version__, "cases": []}
    for k, (case, family, pooling, normalize, st_layout) in enumerate(CASES):
        t0 = time.time()
        try:
            index["cases"].append(make_case(out_root, case, family, pooling, normalize, st_layout, 1000 + k))
        except Exception as e:
            import traceback
            traceback.print_exc()
            print(f"{case}: FAILED {type(e).__name__}: {e}", flush=True)
        print(f"  {case} {time.time() - t0:.1f}s", flush=True)
    first = os.path.join(out_root, "bert-mean-norm")
    for f in ("modules.json", "1_Pooling/config.json", "sentence_bert_config.json", "config_sentence_transformers.json", "config.json", "tokenizer_config.json"):
        p = os.path.join(first, f)
        if os.path.exists(p):
            print(f"--- bert-mean-norm/{f}\n{open(p).read()}", flush=True)
    with open(os.path.join(out_root, "index.json"), "w") as fh:
        json.dump(index, fh, indent=1)


if __name__ == "__main__":
    main()
