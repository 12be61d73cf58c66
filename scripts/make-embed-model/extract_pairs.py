#!/usr/bin/env python3
"""Translated gettext messages as paraphrase groups, for the shipped sentence-embedding model.

Every message a program prints (its English msgid) and its translations into German, Spanish,
French, Italian, Dutch, Portuguese and Swedish say the same thing in other words: a group of
natural paraphrases across languages. A contrastive model learns to put them close together.

Reads this Debian machine's catalogs, /usr/share/locale/<lang>/LC_MESSAGES/*.mo, with the stdlib
only (gettext.GNUTranslations), cleaned as scripts/make-model/extract_corpus.py does (collapse
whitespace, 15-200 characters, mostly letters, translation differs from the msgid).
Groups are split train/eval by a hash of the msgid, so no message is in both.

Writes (deterministic: sorted inputs, sha256 split and selection):
  scripts/device/jobs/t1-embed/groups-train.jsonl.gz   one JSON list per group: [en, de, es, fr, it, nl, pt, sv] (null where missing)
  data/embed/eval.jsonl        {"text", "group"} for 120 held-out groups: the English message and up to 3 translations
  data/embed/calib.jsonl       {"text"} 64 texts of training groups (calibration sees no evaluation text)
  scripts/make-embed-model/corpus-stats.json
Usage: python3 scripts/make-embed-model/extract_pairs.py
"""
import glob
import gettext
import gzip
import hashlib
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOCALE = "/usr/share/locale"
LANGS = [("de", ["de"]), ("es", ["es"]), ("fr", ["fr"]), ("it", ["it"]), ("nl", ["nl"]), ("pt", ["pt_BR", "pt"]), ("sv", ["sv"])]
MIN_LEN, MAX_LEN = 15, 200
EVAL_FRACTION = 0.1
# The device job reads ≤ 4 MiB from the tree: the training groups with at least 3 translations,
# at most this many (by hash), fit in ~2 MB compressed.
TRAIN_GROUPS = 24000
EVAL_GROUPS = 120
EVAL_TRANSLATIONS = 3
CALIB_TEXTS = 64
WS = re.compile(r"\s+")
# Format specifiers and markup are not words: keep messages that are mostly prose.
FORMAT = re.compile(r"%[-+ #0-9.*lhzjt]*[a-zA-Z]|\{[^}]*\}|<[^>]+>")


def clean(s):
    s = WS.sub(" ", s).strip()
    if len(s) > MAX_LEN:
        cut = s[:MAX_LEN]
        sp = cut.rfind(" ")
        if sp >= MAX_LEN // 2:
            cut = cut[:sp]
        s = cut.rstrip()
    return s


def ok(s):
    return len(s) >= MIN_LEN and sum(ch.isalpha() for ch in s) >= 0.5 * len(s) and len(FORMAT.findall(s)) <= 1


def h(s, salt=""):
    return int(hashlib.sha256((salt + s).encode("utf-8")).hexdigest()[:12], 16)


def read_catalog(path):
    try:
        with open(path, "rb") as fp:
            return gettext.GNUTranslations(fp)._catalog
    except Exception:
        return {}


def main():
    groups = {}  # msgid -> {lang: (rank, domain, translation)}
    catalogs = 0
    for lang, locs in LANGS:
        for rank, loc in enumerate(locs):
            for mo in sorted(glob.glob(os.path.join(LOCALE, loc, "LC_MESSAGES", "*.mo"))):
                domain = os.path.basename(mo)[:-3]
                if domain.startswith("iso_"):
                    continue  # country and language names: single words, not sentences
                cat = read_catalog(mo)
                catalogs += 1
                for key in sorted(cat, key=repr):
                    val = cat[key]
                    if isinstance(key, tuple):
                        if key[1] != 0:
                            continue
                        key = key[0]
                    if not key or not isinstance(val, str):
                        continue
                    if "\x04" in key:
                        key = key.split("\x04", 1)[1]
                    src, tr = clean(key), clean(val)
                    if not ok(src) or not ok(tr) or tr == src:
                        continue
                    g = groups.setdefault(src, {})
                    cand = (rank, domain, tr)
                    if lang not in g or cand < g[lang]:
                        g[lang] = cand
    order = [lang for lang, _ in LANGS]
    train, held = [], []
    for src in sorted(groups):
        g = groups[src]
        row = [src] + [g[l][2] if l in g else None for l in order]
        (held if (h(src) % 10000) < EVAL_FRACTION * 10000 else train).append(row)
    train = sorted((r for r in train if sum(t is not None for t in r[1:]) >= 3), key=lambda r: h(r[0], "train"))[:TRAIN_GROUPS]
    train.sort(key=lambda r: r[0])
    os.makedirs(os.path.join(ROOT, "data", "embed"), exist_ok=True)
    job = os.path.join(ROOT, "scripts", "device", "jobs", "t1-embed")
    os.makedirs(job, exist_ok=True)
    # mtime 0 and no file name in the header: the same bytes on every run.
    with open(os.path.join(job, "groups-train.jsonl.gz"), "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
            for row in train:
                f.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    # Evaluation: groups with at least three translations, chosen by hash; the English message and
    # three translations chosen by hash (so several languages appear), each line tagged with its group.
    rich = sorted((r for r in held if sum(t is not None for t in r[1:]) >= EVAL_TRANSLATIONS), key=lambda r: h(r[0], "eval"))[:EVAL_GROUPS]
    rich.sort(key=lambda r: r[0])
    seen = set()
    with open(os.path.join(ROOT, "data", "embed", "eval.jsonl"), "w", encoding="utf-8") as f:
        for gi, r in enumerate(rich):
            langs = sorted((l for l, t in zip(order, r[1:]) if t is not None), key=lambda l: h(r[0], l))[:EVAL_TRANSLATIONS]
            texts = [r[0]] + [r[1 + order.index(l)] for l in sorted(langs)]
            for t in texts:
                if t in seen:
                    continue
                seen.add(t)
                f.write(json.dumps({"text": t, "group": f"g{gi:03d}"}, ensure_ascii=False) + "\n")
    pool = sorted((t for r in train for t in r if t is not None and t not in seen), key=lambda t: h(t, "calib"))[:CALIB_TEXTS]
    with open(os.path.join(ROOT, "data", "embed", "calib.jsonl"), "w", encoding="utf-8") as f:
        for t in pool:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    stats = {
        "catalogs_read": catalogs,
        "groups": len(groups),
        "train_groups": len(train),
        "train_pairs_with_english": sum(sum(t is not None for t in r[1:]) for r in train),
        "eval_groups": len(rich),
        "eval_texts": len(seen),
        "calib_texts": len(pool),
        "languages": ["en"] + order,
    }
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus-stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
