#!/usr/bin/env python3
"""Extractive QA pairs (SQuAD layout) from the option descriptions extract_options.py wrote.

Each example's context is a window of consecutive option entries of one manual page
("-v, --invert-match: Invert the sense of matching, ..."), one entry per line, and its question
is one of three kinds, chosen by a hash of the page and the option:
  what   "What does the -v option of grep do?"        → the description's first sentence
  which  "Which grep option means: invert the sense …?" → the option's first name ("-v")
  long   "What is the long form of the -v option of grep?" → "--invert-match" (tags with both)
Pages are split by sha256 of their name (train 90%, calibration 4%, evaluation 6%): no page's
text is in two splits. Stdlib only and deterministic (hashes, never random()).

    python3 scripts/make-qa-model/build_qa.py OPTIONS.jsonl.xz OUTDIR [--limit-eval N --limit-calib N]
writes OUTDIR/{train,calib,eval}.jsonl: {"id", "question", "context", "answers": {"text": [..],
"answer_start": [..]}, "kind", "page"}.
"""
import argparse
import hashlib
import json
import lzma
import os
import re

SENTENCE_END = re.compile(r"(?<=[a-z0-9)\"']\.)\s+(?=[A-Z])")
MAX_CONTEXT = 700      # characters: most contexts fit 256 tokens with the question
MAX_ANSWER_WORDS = 20


def h(*parts):
    return int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12], 16)


def split_of(page):
    r = h("split", page) % 100
    return "train" if r < 90 else ("calib" if r < 94 else "eval")


def names(tag):
    """'-v, --invert-match' → ['-v', '--invert-match']; '-f FILE, --file=FILE' → ['-f', '--file']."""
    out = []
    for part in tag.split(","):
        word = part.strip().split(" ")[0].split("=")[0].split("[")[0]
        if re.fullmatch(r"-{1,2}[A-Za-z0-9?#@][A-Za-z0-9_.?#@+-]*", word):
            out.append(word)
    return out


def command(page):
    return page.rsplit("(", 1)[0]


def first_sentence(desc):
    s = SENTENCE_END.split(desc)[0]
    return s


def entry(tag, desc):
    return f"{tag}: {desc}"


def window(options, i, key):
    """Entries around option i, the target at a hashed position, within MAX_CONTEXT characters."""
    size = 3 + h("size", key) % 4
    before = h("before", key) % size
    lo = max(0, i - before)
    chosen = list(range(lo, min(len(options), lo + size)))
    # Drop entries from the far ends until the context fits.
    while sum(len(entry(*options[j])) + 1 for j in chosen) > MAX_CONTEXT and len(chosen) > 1:
        if chosen[-1] != i and (chosen[0] == i or h("drop", key, str(len(chosen))) % 2):
            chosen.pop()
        else:
            chosen.pop(0)
    return chosen


def example(page, options, i, kind, window_key):
    """One QA pair of `kind` about option i, its context a window chosen by `window_key`; None when it does not apply."""
    cmd = command(page)
    tag, desc = options[i]
    key = f"{page}\x1f{tag}"
    opt_names = names(tag)
    chosen = window(options, i, window_key)
    texts = [entry(*options[j]) for j in chosen]
    offsets, pos = {}, 0
    for j, t in zip(chosen, texts):
        offsets[j] = pos
        pos += len(t) + 1
    context = "\n".join(texts)
    if len(context) > MAX_CONTEXT + 200:
        return None
    longs = [n for n in opt_names if n.startswith("--")]
    shorts = [n for n in opt_names if not n.startswith("--")]
    sentence = first_sentence(desc)
    if kind == "what":
        name = opt_names[h("name", key) % len(opt_names)]
        question = f"What does the {name} option of {cmd} do?"
        answer, start = sentence, offsets[i] + len(tag) + 2
    elif kind == "which":
        body = sentence.rstrip(".")
        body = body[0].lower() + body[1:] if body[:2] != body[:2].upper() else body
        question = f"Which {cmd} option means: {body}?"
        answer = opt_names[0]
        start = offsets[i] + tag.index(answer)
    else:
        if not (longs and shorts):
            return None
        question = f"What is the long form of the {shorts[0]} option of {cmd}?"
        answer = longs[0]
        start = offsets[i] + tag.index(answer)
    assert context[start:start + len(answer)] == answer, (page, tag, answer)
    return {
        "id": f"{page}#{tag}" + ("" if window_key == key else f"#{kind}"),
        "question": question,
        "context": context,
        "answers": {"text": [answer], "answer_start": [start]},
        "kind": kind,
        "page": page,
    }


def examples_for_page(page, options, all_kinds=False):
    """One pair per option, of a kind chosen by hash; with all_kinds (training) every kind that applies."""
    for i, (tag, desc) in enumerate(options):
        key = f"{page}\x1f{tag}"
        opt_names = names(tag)
        if not opt_names:
            continue
        longs = [n for n in opt_names if n.startswith("--")]
        shorts = [n for n in opt_names if not n.startswith("--")]
        words = first_sentence(desc).split()
        r = h("kind", key) % 10
        if longs and shorts and r >= 8:
            kind = "long"
        elif r >= 5:
            kind = "which"
        else:
            kind = "what"
        if kind == "what" and not (2 <= len(words) <= MAX_ANSWER_WORDS):
            kind = "which"
        ok = {"what": 2 <= len(words) <= MAX_ANSWER_WORDS, "which": 3 <= len(words) <= 40, "long": bool(longs and shorts)}
        if ok[kind]:
            e = example(page, options, i, kind, key)
            if e:
                yield e
        if all_kinds:
            for other in ("what", "which", "long"):
                if other != kind and ok[other]:
                    e = example(page, options, i, other, f"{key}\x1f{other}")
                    if e:
                        yield e


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("options")
    ap.add_argument("out")
    ap.add_argument("--limit-eval", type=int, default=0, help="keep the N evaluation examples of smallest hash (0: all)")
    ap.add_argument("--limit-calib", type=int, default=0)
    ap.add_argument("--splits", default="train,calib,eval")
    ap.add_argument("--all-kinds-train", action="store_true", help="every question kind that applies to each training option (more pairs)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    wanted = a.splits.split(",")
    rows = {s: [] for s in wanted}
    with lzma.open(a.options, "rt") as f:
        for line in f:
            page = json.loads(line)
            split = split_of(page["page"])
            if split in rows:
                rows[split].extend(examples_for_page(page["page"], page["options"], all_kinds=split == "train" and a.all_kinds_train))
    limits = {"eval": a.limit_eval, "calib": a.limit_calib}
    for split, items in rows.items():
        if limits.get(split):
            # One example per page first (the most varied set), by hash order.
            items = sorted(items, key=lambda e: h("pick", e["id"]))
            pages, first, rest = set(), [], []
            for e in items:
                (rest if e["page"] in pages else first).append(e)
                pages.add(e["page"])
            items = sorted((first + rest)[: limits[split]], key=lambda e: e["id"])
        with open(os.path.join(a.out, f"{split}.jsonl"), "w") as f:
            for e in items:
                f.write(json.dumps(e, ensure_ascii=True) + "\n")
        kinds = {}
        for e in items:
            kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
        print(f"{split}: {len(items)} examples {kinds}")


if __name__ == "__main__":
    main()
