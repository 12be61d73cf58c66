#!/usr/bin/env python3
"""Build a language-identification corpus from Debian gettext catalogs.

Runs on a Debian machine with apt (no network besides the Debian mirror that
apt is configured for) and plain Python 3 (stdlib only).

Steps:
  1. `apt-get download` a fixed list of packages that ship many .mo catalogs
     (into scripts/make-model/.work/debs).
  2. `dpkg-deb -x` each .deb into a temporary directory.
  3. Read every LC_MESSAGES/*.mo for the chosen languages with
     gettext.GNUTranslations and collect (msgid, translation) pairs.
  4. Clean the texts (collapse whitespace, drop < 15 chars, cut at ~200 chars
     on a word boundary, drop translations identical to the English msgid).
  5. Group by msgid; split groups into train/eval with a hash of the msgid, so
     that all translations of a source message land in the same split.
  6. Write scripts/make-model/.work/corpus/{train,eval}.jsonl and stats.json.

Everything is deterministic: inputs are sorted, the split uses sha256.
Usage:  python3 scripts/make-model/extract_corpus.py [--skip-download]
"""
import argparse
import gettext
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, ".work")
DEBS = os.path.join(WORK, "debs")
OUTDIR = os.path.join(WORK, "corpus")

PACKAGES = sorted([
    "apt", "bash", "binutils", "binutils-common", "bison", "coreutils", "diffutils",
    "dpkg", "e2fsprogs", "e2fsprogs-l10n", "findutils", "gawk", "gettext",
    "gettext-base", "gnupg", "gnupg-l10n", "grep", "libparted2", "make", "parted",
    "sed", "tar", "util-linux", "util-linux-locales", "wget",
])

# label -> locale directories accepted (first one wins for a given msgid
# within one catalog set; pt and pt_BR are both mapped to "pt").
LANGS = {
    "de": ["de"],
    "es": ["es"],
    "fr": ["fr"],
    "it": ["it"],
    "nl": ["nl"],
    "pl": ["pl"],
    "pt": ["pt_BR", "pt"],
    "sv": ["sv"],
}
EN = "en"
MIN_LEN = 15
MAX_LEN = 200
EVAL_FRACTION = 0.2

WS = re.compile(r"\s+")


def clean(s):
    s = WS.sub(" ", s).strip()
    if len(s) > MAX_LEN:
        cut = s[:MAX_LEN]
        sp = cut.rfind(" ")
        if sp >= MAX_LEN // 2:
            cut = cut[:sp]
        s = cut.rstrip()
    return s


def letters(s):
    return sum(ch.isalpha() for ch in s)


def ok(s):
    # long enough and mostly words (not just option tables / format strings)
    return len(s) >= MIN_LEN and letters(s) >= 0.5 * len(s)


def download():
    os.makedirs(DEBS, exist_ok=True)
    for p in PACKAGES:
        if glob.glob(os.path.join(DEBS, p + "_*.deb")):
            continue
        subprocess.run(["apt-get", "download", p], cwd=DEBS, check=True)


def split_of(msgid):
    h = int(hashlib.sha256(msgid.encode("utf-8")).hexdigest()[:12], 16)
    return "eval" if (h % 10000) < EVAL_FRACTION * 10000 else "train"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-download", action="store_true")
    args = ap.parse_args()
    if not args.skip_download:
        download()
    debs = sorted(glob.glob(os.path.join(DEBS, "*.deb")))
    if not debs:
        sys.exit("no .deb files in " + DEBS)
    os.makedirs(OUTDIR, exist_ok=True)

    loc2label = {}
    for lab, locs in LANGS.items():
        for rank, loc in enumerate(locs):
            loc2label[loc] = (lab, rank)

    # groups[msgid][label] = (rank, package, translation)
    groups = {}
    n_catalogs = 0
    with tempfile.TemporaryDirectory() as tmp:
        for deb in debs:
            d = os.path.join(tmp, os.path.basename(deb))
            subprocess.run(["dpkg-deb", "-x", deb, d], check=True)
        mos = sorted(glob.glob(os.path.join(tmp, "*", "usr", "share", "locale",
                                            "*", "LC_MESSAGES", "*.mo")))
        for mo in mos:
            parts = mo.split(os.sep)
            loc = parts[-3]
            if loc not in loc2label:
                continue
            lab, rank = loc2label[loc]
            pkg = parts[len(tmp.split(os.sep))].split("_")[0]
            try:
                with open(mo, "rb") as fp:
                    cat = gettext.GNUTranslations(fp)._catalog
            except Exception as e:  # pragma: no cover
                print("skip", mo, e, file=sys.stderr)
                continue
            n_catalogs += 1
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
                src = clean(key)
                tr = clean(val)
                if not ok(src) or not ok(tr) or tr == src:
                    continue
                g = groups.setdefault(src, {})
                cand = (rank, pkg, tr)
                if lab not in g or cand < g[lab]:
                    g[lab] = cand

    # Flatten; every text is assigned to exactly one group (first msgid in
    # sorted order) so the same string never appears in both splits.
    seen = set()
    rows = {"train": [], "eval": []}
    for src in sorted(groups):
        g = groups[src]
        sp = split_of(src)
        items = [(EN, src)] + [(lab, g[lab][2]) for lab in sorted(g)]
        for lab, text in items:
            if text in seen:
                continue
            seen.add(text)
            rows[sp].append({"text": text, "label": lab, "group": src})

    stats = {"packages": [os.path.basename(d) for d in debs],
             "catalogs_read": n_catalogs, "groups": len(groups),
             "languages": [EN] + sorted(LANGS), "locales": LANGS,
             "min_len": MIN_LEN, "max_len": MAX_LEN,
             "eval_fraction": EVAL_FRACTION, "counts": {}}
    for sp, rs in rows.items():
        with open(os.path.join(OUTDIR, sp + ".jsonl"), "w", encoding="utf-8") as f:
            for r in rs:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        c = {}
        for r in rs:
            c[r["label"]] = c.get(r["label"], 0) + 1
        stats["counts"][sp] = dict(sorted(c.items()))
    with open(os.path.join(OUTDIR, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    print(json.dumps({k: stats[k] for k in ("catalogs_read", "groups", "counts")}, indent=1))


if __name__ == "__main__":
    main()
