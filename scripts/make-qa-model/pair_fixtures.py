#!/usr/bin/env python3
"""Question + context pairs encoded by the Python tokenizers library, for src/data/pair-encoder.test.ts.

For each zoo tokenizer (WordPiece: bert, electra; byte-level BPE: roberta; Unigram: xlm-roberta) and
the first 16 pairs of data/qa-man/eval.jsonl: Tokenizer.from_file(tokenizer.json) with
enable_truncation(max_length, strategy="only_second") and encode(question, context): ids, type ids,
offsets, sequence ids (None → -1) and word ids of the context tokens, at max_length 48 (truncated)
and 512 (whole). A pair Python refuses (the question leaves no room for the context) is recorded
with its error.
    python3 scripts/make-qa-model/pair_fixtures.py OUT.json
"""
import json
import sys

from tokenizers import Tokenizer
import tokenizers

ZOO = "tests/fixtures/zoo"
NAMES = ["bert", "electra", "roberta", "xlm-roberta"]


def main():
    rows = [json.loads(l) for l in open("data/qa-man/eval.jsonl")][:16]
    out = {"tokenizers": tokenizers.__version__, "cases": []}
    for name in NAMES:
        for max_length in (48, 512):
            tok = Tokenizer.from_file(f"{ZOO}/{name}/tokenizer.json")
            tok.no_padding()
            tok.enable_truncation(max_length=max_length, strategy="only_second")
            items = []
            for r in rows:
                try:
                    e = tok.encode(r["question"], r["context"])
                except Exception as err:  # the question leaves no room for the context
                    items.append({"question": r["question"], "context": r["context"], "error": str(err)})
                    continue
                seq = [(-1 if s is None else s) for s in e.sequence_ids]
                items.append({
                    "question": r["question"], "context": r["context"], "ids": e.ids, "type_ids": e.type_ids,
                    "sequence_ids": seq,
                    "context_offsets": [list(o) for o, s in zip(e.offsets, seq) if s == 1],
                    "context_words": [w for w, s in zip(e.word_ids, seq) if s == 1],
                })
            out["cases"].append({"tokenizer": name, "max_length": max_length, "items": items})
            print(name, max_length, "max len", max(len(i.get("ids", [])) for i in items), "errors", sum("error" in i for i in items), flush=True)
    with open(sys.argv[1], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
