#!/usr/bin/env python3
"""Writes data/langid/train.jsonl: the QAT training split of the bert-langid model.

A balanced, deterministic sample of the corpus's *training* split
(scripts/make-model/.work/corpus/train.jsonl, made by scripts/make-model/extract_corpus.py):
N texts per label, chosen by sha256(seed + text) so the choice does not depend on file order,
with every text of data/langid/calib.jsonl and data/langid/eval.jsonl left out. Lines are
{"text", "label"} (the corpus's "group" key is dropped), in hash order so labels are mixed.

    python3 scripts/device/make-train-split.py [--per-label 500] [--seed qrun-qat-1]

Python 3 stdlib only. The output for a given corpus is byte-identical on every run.
"""
import argparse
import collections
import hashlib
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=os.path.join(ROOT, "scripts/make-model/.work/corpus/train.jsonl"))
    ap.add_argument("--out", default=os.path.join(ROOT, "data/langid/train.jsonl"))
    ap.add_argument("--per-label", type=int, default=500)
    ap.add_argument("--seed", default="qrun-qat-1")
    ap.add_argument("--max-bytes", type=int, default=1_000_000)
    args = ap.parse_args()

    if not os.path.exists(args.corpus):
        sys.exit(f"{args.corpus} not found: run scripts/make-model/extract_corpus.py first (see scripts/make-model/README.md)")
    held_out = set()
    for name in ("calib.jsonl", "eval.jsonl"):
        held_out.update(r["text"] for r in read_jsonl(os.path.join(ROOT, "data/langid", name)))

    key = lambda text: hashlib.sha256(f"{args.seed}\0{text}".encode("utf-8")).hexdigest()
    by_label = collections.defaultdict(dict)
    for r in read_jsonl(args.corpus):
        if r["text"] not in held_out:
            by_label[r["label"]][r["text"]] = key(r["text"])  # dict: duplicates count once
    rows = []
    for label in sorted(by_label):
        texts = sorted(by_label[label], key=lambda t: by_label[label][t])[: args.per_label]
        if len(texts) < args.per_label:
            sys.exit(f"label {label} has only {len(texts)} texts, fewer than --per-label {args.per_label}")
        rows += [(by_label[label][t], t, label) for t in texts]
    rows.sort()
    data = "".join(json.dumps({"text": t, "label": label}, ensure_ascii=False) + "\n" for _, t, label in rows)
    size = len(data.encode("utf-8"))
    if size > args.max_bytes:
        sys.exit(f"{size} bytes is over --max-bytes {args.max_bytes}: lower --per-label")
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(data)
    counts = collections.Counter(label for _, _, label in rows)
    print(f"wrote {args.out}: {len(rows)} texts, {size} bytes, per label {dict(sorted(counts.items()))}")


if __name__ == "__main__":
    main()
