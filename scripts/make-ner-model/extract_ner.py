#!/usr/bin/env python3
"""Build a token-classification (NER) corpus from the gettext catalogs installed on this machine.

Plain Python 3 (stdlib only), no network. Reads every /usr/share/locale/<locale>/LC_MESSAGES/*.mo
for English (the msgids) and eight Latin-script languages, splits each message into words and
labels spans by deterministic rules (label_words below), in BIO (IOB2) tags:

  URL    http://, https://, ftp://, file:// and www. addresses
  EMAIL  user@host.domain
  FMT    printf and Python format specifiers: %s, %d, %1$s, %-10.3f, %lu, %(name)s, {name}, {0}, each
         one entity wherever it is ("%s:%d" is two, "%s-läge" has one)
  OPT    command-line options: --foo, --foo=BAR, -x, -xy
  PATH   file paths: /etc/passwd, ~/.config/foo, ./configure, ../x, $HOME/.foo, /proc/%d/status
  VAR    environment variables: $HOME, ${XDG_CONFIG_HOME}

Spans are found on whitespace-separated pieces with leading and trailing quotes, brackets and
sentence punctuation peeled off ("'%s'," → %s). Words are what BERT's pre-tokenizer makes of the
text (whitespace splits, every punctuation character a word of its own: "%s" → "%", "s"), so a
span is one or more words (B-FMT I-FMT) and a served text is cut into words the same way.
Messages are grouped by msgid; a group's split comes from sha256(msgid), so a message and its
translations land in the same split. Messages without any entity, and messages whose only entities
are the common FMT / single-word OPT, are kept at a 1-in-4 rate (again by hash), so the rarer types
weigh more and the model still sees plain text.

Output (deterministic for a given set of installed catalogs):
  scripts/make-ner-model/corpus/train.jsonl.gz   {"tokens": [...], "tags": [...], "lang": "de"}
  scripts/make-ner-model/corpus/eval.jsonl.gz
  scripts/make-ner-model/corpus/stats.json       counts, the catalogs read and their sha256
  data/ner/calib.jsonl   64 training rows for calibration      {"tokens": [...], "tags": [...], "text": message}
  data/ner/eval.jsonl    240 held-out rows for qrun's evaluation (quotas per type, then any)

Usage:  python3 scripts/make-ner-model/extract_ner.py [--locale-dir /usr/share/locale]
"""
import argparse
import gettext
import glob
import gzip
import hashlib
import json
import os
import re
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
OUTDIR = os.path.join(HERE, "corpus")

LOCALES = {"de": ["de"], "es": ["es"], "fr": ["fr"], "it": ["it"], "nl": ["nl"], "pl": ["pl"],
           "pt": ["pt_BR", "pt"], "sv": ["sv"]}
# Catalogs of names (countries, languages, currencies, scripts, keyboard layouts): no entities.
SKIP_DOMAINS = re.compile(r"^(iso_|xkeyboard-config)")
MAX_WORDS = 64
MAX_CHARS = 400
EVAL_FRACTION = 0.1
PLAIN_KEEP = 0.25
# Rows whose only entities are FMT or single-word OPT (most of them: "%s" is everywhere) are kept at
# this rate, rows with the rarer types (PATH, URL, EMAIL, VAR) always.
COMMON_KEEP = 0.25
RARE = {"PATH", "URL", "EMAIL", "VAR"}


def is_rare(text, spans):
    """A row with a rarer type."""
    return any(t in RARE for t, _, _ in spans)
TYPES = ["EMAIL", "FMT", "OPT", "PATH", "URL", "VAR"]

WS = re.compile(r"\s+")
# Peeled from both ends of a whitespace piece (one character at a time), each its own word.
LEAD = set("\"'«»“”„‘’‚‹›([{<¿¡`")
TRAIL = set("\"'«»“”„‘’‹›)]}>.,;:!?…`")

SPEC = r"(?:%(?:\d+\$)?[-+ #0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|t|I64|I32)?[diouxXeEfFgGaAcspn]" \
       r"|%\([A-Za-z_][A-Za-z0-9_]*\)[-+ #0]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]" \
       r"|\{[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_]\w*)*(?:![rsa])?(?::[^{}\s]*)?\}|\{\d*(?::[^{}\s]*)?\})"
FMT_WORD = re.compile(r"^" + SPEC + r"(?:[/:x×.,-]?" + SPEC + r")*$")
URL_WORD = re.compile(r"^(?:(?:https?|ftp|file)://[^\s\"<>]+|www\.[A-Za-z0-9-]+\.[A-Za-z0-9.\-/~%_?=&#+]+)$")
EMAIL_WORD = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
OPT_WORD = re.compile(r"^(?:--[A-Za-z0-9][A-Za-z0-9_-]*(?:=[^\s]+)?|-[A-Za-z0-9?]{1,2})$")
VAR_WORD = re.compile(r"^(?:\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_]*\})$")
PATH_WORD = re.compile(r"^(?:~|\.{1,2}|\$[A-Za-z_]+|\$\{[A-Za-z_]+\})?/[^\s/\"<>]+(?:/[^\s/\"<>]*)*$")


def pieces(text):
    """(core, start) per whitespace piece, with leading and trailing quotes, brackets and sentence
    punctuation peeled off ("'%s'," → "%s"): the candidates the rules below look at."""
    out = []
    for m in re.finditer(r"\S+", text):
        piece, start = m.group(0), m.start()
        while len(piece) > 1 and piece[0] in LEAD:
            piece, start = piece[1:], start + 1
        while len(piece) > 1 and piece[-1] in TRAIL:
            # a closing bracket whose opening one is in the piece stays ("foo(1)", "{name}")
            if piece[-1] in ")]}>" and "([{<"[")]}>".index(piece[-1])] in piece:
                break
            piece = piece[:-1]
        out.append((piece, start))
    return out


def is_punctuation(ch):
    """BertPreTokenizer's punctuation: ASCII symbols and every Unicode P* category."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def bert_words(text):
    """(word, start, end): whitespace-separated, every punctuation character a word of its own —
    the words BERT's pre-tokenizer makes, so the words a served text is cut into are these."""
    words, cur, cur_start = [], [], 0
    for i, ch in enumerate(text):
        if ch.isspace():
            if cur:
                words.append(("".join(cur), cur_start, i))
                cur = []
        elif is_punctuation(ch):
            if cur:
                words.append(("".join(cur), cur_start, i))
                cur = []
            words.append((ch, i, i + 1))
        else:
            if not cur:
                cur_start = i
            cur.append(ch)
    if cur:
        words.append(("".join(cur), cur_start, len(text)))
    return words


def word_type(w):
    if URL_WORD.match(w):
        return "URL"
    if EMAIL_WORD.match(w):
        return "EMAIL"
    if FMT_WORD.match(w):
        return "FMT"
    if VAR_WORD.match(w):
        return "VAR"
    if OPT_WORD.match(w) and not re.match(r"^-\d+$", w):
        return "OPT"
    # "/u", "/w" (and/or-like abbreviations) are not paths: a lone segment needs 3 characters
    if PATH_WORD.match(w) and re.search(r"[A-Za-z%$~]", w) and "//" not in w and (len(w) >= 4 or w.count("/") > 1):
        return "PATH"
    return None


SPEC_SEARCH = re.compile(SPEC)


def entity_spans(text):
    """(type, start, end) character spans by the rules, sorted. URL, EMAIL, VAR, OPT and PATH are whole
    pieces; FMT is every format specifier anywhere ("%s-läge", "%s:%d" → two), except inside
    another entity (/proc/%d/status is one PATH), after a literal "%" ("%%s"), or with whitespace in
    it ("100% done" is not "% d")."""
    spans = []
    for core, start in pieces(text):
        t = word_type(core)
        if t is not None and t != "FMT":
            spans.append((t, start, start + len(core)))
    for m in SPEC_SEARCH.finditer(text):
        a, b = m.span()
        if any(ch.isspace() for ch in m.group(0)) or (a > 0 and text[a - 1] == "%"):
            continue
        if any(a < e and s < b for _, s, e in spans):
            continue
        spans.append(("FMT", a, b))
    return sorted(spans, key=lambda x: x[1])


def label_text(text):
    """Words (BERT pre-tokenizer units), their BIO tags and the entity spans."""
    words = bert_words(text)
    tags = ["O"] * len(words)
    spans = entity_spans(text)
    for t, start, end in spans:
        inside = [k for k, (_, ws, we) in enumerate(words) if ws >= start and we <= end]
        for n, k in enumerate(inside):
            tags[k] = ("B-" if n == 0 else "I-") + t
    return [w for w, _, _ in words], tags, spans


def unit(s, salt):
    h = int(hashlib.sha256((salt + "\x00" + s).encode("utf-8")).hexdigest()[:12], 16)
    return (h % 1000000) / 1000000.0


def read_catalog(path):
    with open(path, "rb") as fp:
        cat = gettext.GNUTranslations(fp)._catalog
    out = []
    for key in sorted(cat, key=lambda k: repr(k)):
        val = cat[key]
        if isinstance(key, tuple):  # plural forms: (msgid, n)
            if key[1] != 0:
                continue
            key = key[0]
        if not key:
            continue  # header
        if "\x04" in key:  # msgctxt
            key = key.split("\x04", 1)[1]
        out.append((key, val))
    return out


def clean(s):
    s = s.replace("\\n", " ")
    s = WS.sub(" ", s).strip()
    return s


# Training rows with a PATH, URL or EMAIL are copied this many times with that entity replaced by
# another real one from this machine: the catalogs hold few distinct ones (about 20 URLs and 40
# addresses), too few to learn where a long entity ends.
VARIANTS = 6
POOL_SIZE = 4000


def real_pools(dpkg_info="/var/lib/dpkg/info", docs="/usr/share/doc"):
    """Real paths (installed files, dpkg's *.list), URLs and e-mail addresses (copyright files),
    each kept only where the rules give it its type; sorted, then a hash-chosen subset."""
    paths, urls, emails = set(), set(), set()
    for f in sorted(glob.glob(os.path.join(dpkg_info, "*.list"))):
        with open(f, encoding="utf-8", errors="replace") as fp:
            for line in fp:
                p = line.strip()
                if 4 <= len(p) <= 60 and p.count("/") >= 2 and word_type(p) == "PATH":
                    paths.add(p)
    for f in sorted(glob.glob(os.path.join(docs, "*", "copyright"))):
        with open(f, encoding="utf-8", errors="replace") as fp:
            text = fp.read()
        for m in re.finditer(r"(?:https?|ftp)://[^\s<>()\"',;]+", text):
            u = m.group(0).rstrip(".:")
            if len(u) <= 80 and word_type(u) == "URL":
                urls.add(u)
        for m in re.finditer(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", text):
            e = m.group(0)
            if word_type(e) == "EMAIL":
                emails.add(e)
    pick_ = lambda xs, salt: sorted(sorted(xs), key=lambda x: unit(x, salt))[:POOL_SIZE]
    return {"PATH": pick_(paths, "pool-path"), "URL": pick_(urls, "pool-url"), "EMAIL": pick_(emails, "pool-email")}


def augment(rows, pools):
    """Copies of rows with a PATH, URL or EMAIL, each such entity replaced by a pool entry."""
    out = []
    for r in rows:
        spans = [sp for sp in entity_spans(r["text"]) if sp[0] in pools and pools[sp[0]]]
        if not spans:
            continue
        for v in range(VARIANTS):
            text, shift = r["text"], 0
            for t, a, b in spans:
                pool = pools[t]
                new = pool[int(unit(r["text"] + "\x00" + str(a), "aug-%d" % v) * len(pool))]
                text = text[:a + shift] + new + text[b + shift:]
                shift += len(new) - (b - a)
            words, tags, new_spans = label_text(text)
            if len(words) > MAX_WORDS or [x[0] for x in new_spans if x[0] in pools] != [x[0] for x in spans]:
                continue
            out.append({"tokens": words, "tags": tags, "lang": r["lang"], "rare": True, "text": text})
    return out


def pick(rows, n, salt, quotas):
    """n rows in hash order: first up to quotas[type] rows with each type (rarest first), then others."""
    order = sorted(rows, key=lambda r: unit(" ".join(r["tokens"]), salt))
    chosen, taken = [], set()
    for t, k in quotas:
        having = [r for r in order if id(r) not in taken and ("B-" + t) in r["tags"]][:k]
        chosen += having
        taken.update(id(r) for r in having)
    chosen += [r for r in order if id(r) not in taken][: n - len(chosen)]
    return sorted(chosen, key=lambda r: unit(" ".join(r["tokens"]), salt + "-order"))


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"tokens": r["tokens"], "tags": r["tags"], "text": r["text"]}, ensure_ascii=False) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--locale-dir", default="/usr/share/locale")
    ap.add_argument("--out", default=OUTDIR)
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "data", "ner"))
    args = ap.parse_args()
    loc2lang = {loc: (lang, rank) for lang, locs in LOCALES.items() for rank, loc in enumerate(locs)}
    catalogs = []
    # groups[msgid] = {lang: (rank, domain, text)}
    groups = {}
    for mo in sorted(glob.glob(os.path.join(args.locale_dir, "*", "LC_MESSAGES", "*.mo"))):
        loc = mo.split(os.sep)[-3]
        domain = os.path.basename(mo)[:-3]
        if loc not in loc2lang or SKIP_DOMAINS.match(domain):
            continue
        lang, rank = loc2lang[loc]
        try:
            pairs = read_catalog(mo)
        except Exception as e:  # a broken catalog is skipped, and said
            print("skip", mo, e, file=sys.stderr)
            continue
        with open(mo, "rb") as fp:
            catalogs.append([os.path.relpath(mo, args.locale_dir), hashlib.sha256(fp.read()).hexdigest()])
        for key, val in pairs:
            src, tr = clean(key), clean(val)
            if not src or not tr or len(src) > MAX_CHARS or len(tr) > MAX_CHARS:
                continue
            g = groups.setdefault(src, {})
            cand = (rank, domain, tr)
            if lang not in g or cand < g[lang]:
                g[lang] = cand

    seen = set()
    rows = {"train": [], "eval": []}
    counts = {"train": {}, "eval": {}}
    for src in sorted(groups):
        sp = "eval" if unit(src, "split") < EVAL_FRACTION else "train"
        items = [("en", src)] + [(lang, groups[src][lang][2]) for lang in sorted(groups[src])]
        for lang, text in items:
            if text in seen:
                continue
            seen.add(text)
            words, tags, spans = label_text(text)
            if not words or len(words) > MAX_WORDS:
                continue
            rare = is_rare(text, spans)
            if all(t == "O" for t in tags):
                if unit(text, "plain") >= PLAIN_KEEP:
                    continue
            elif not rare and unit(text, "common") >= COMMON_KEEP:
                continue
            rows[sp].append({"tokens": words, "tags": tags, "lang": lang, "rare": rare, "text": text})
            for t in tags:
                if t.startswith("B-"):
                    counts[sp][t[2:]] = counts[sp].get(t[2:], 0) + 1
    pools = real_pools()
    augmented = augment(rows["train"], pools)
    # qrun's sets come from the messages themselves (below): augmented rows only train.
    train_rows = rows["train"] + augmented
    os.makedirs(args.out, exist_ok=True)
    for sp, rs in {"train": train_rows, "eval": rows["eval"]}.items():
        # mtime=0 and no file name in the header: the .gz bytes depend on the rows only
        with open(os.path.join(args.out, sp + ".jsonl.gz"), "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
                for r in rs:
                    row = {"tokens": r["tokens"], "tags": r["tags"], "lang": r["lang"]}
                    f.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    # qrun's sets: short rows (≤ 48 words) so the recipe's end-to-end test stays quick
    short = {sp: [r for r in rs if len(r["tokens"]) <= 48] for sp, rs in rows.items()}
    write_jsonl(os.path.join(args.data, "calib.jsonl"), pick(short["train"], 64, "calib", [("EMAIL", 2), ("URL", 2), ("VAR", 4), ("PATH", 4), ("OPT", 10)]))
    write_jsonl(os.path.join(args.data, "eval.jsonl"), pick(short["eval"], 240, "eval", [("EMAIL", 10), ("URL", 10), ("VAR", 25), ("PATH", 35), ("OPT", 50)]))
    stats = {"rows": {sp: len(rs) for sp, rs in rows.items()}, "augmented_train_rows": len(augmented),
             "pools": {t: len(p) for t, p in pools.items()}, "variants": VARIANTS,
             "entities": {sp: dict(sorted(c.items())) for sp, c in counts.items()},
             "languages": ["en"] + sorted(LOCALES), "locales": LOCALES, "types": TYPES,
             "eval_fraction": EVAL_FRACTION, "plain_keep": PLAIN_KEEP, "common_keep": COMMON_KEEP, "max_words": MAX_WORDS,
             "catalogs": catalogs}
    with open(os.path.join(args.out, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    print(json.dumps({k: stats[k] for k in ("rows", "entities")}, indent=1))
    print("catalogs read:", len(catalogs))


if __name__ == "__main__":
    main()
