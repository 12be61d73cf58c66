#!/usr/bin/env python3
"""Extract the English document corpus for models/bert6-hard from this Debian machine.

Reads, with the Python standard library only:
  /usr/share/doc/<pkg>/   changelogs, NEWS, copyright files, READMEs and other plain-text docs
  /usr/share/man/man1..8  English man pages, with the roff markup stripped here (no groff run:
                          20 000 pages through groff would take half an hour, and its output
                          depends on the groff version)
and writes one xz-compressed JSON-lines file, one line per document:
  {"g": package, "l": label, "s": "train" | "eval", "p": [paragraph, ...]}
sorted by (label, package, path), so the same installed files give the same bytes.

Labels (what kind of document a paragraph comes from; 7 classes, some close to each other):
  changes      changelog*, NEWS*                       (Debian and upstream)
  copyright    copyright                               (licence texts and notices)
  readme       README*, TODO*, FAQ*, *.md, *.rst, *.txt in the doc folders
  man-user     man1, man6                              (user commands, games)
  man-admin    man8                                    (system administration)
  man-api      man2, man3                              (system calls, library functions)
  man-formats  man4, man5, man7                        (devices, file formats, conventions)

Groups: the package that owns the file (from /var/lib/dpkg/info/*.list). The split is by
sha256(package), so no package has paragraphs on both sides: the eval texts come from packages the
model never saw, not from other paragraphs of a page it trained on.

Usage: python3 scripts/make-hard-bert/extract_corpus.py [--out PATH] [--max-mib 3.9]
"""
import argparse
import collections
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import sys

DOC_ROOT = "/usr/share/doc"
MAN_ROOT = "/usr/share/man"
DPKG_INFO = "/var/lib/dpkg/info"
EVAL_PERCENT = 12          # packages whose sha256 bucket (0..99) is below this are held out
MIN_WORDS = 6
MAX_WORDS = 90             # longer paragraphs are cut at sentence ends into pieces of at most this
MAX_PARAS_PER_DOC = 120
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "device", "jobs",
                           "q2-hardbert", "data", "corpus.jsonl.xz")

MAN_LABEL = {"1": "man-user", "6": "man-user", "8": "man-admin", "2": "man-api", "3": "man-api",
             "4": "man-formats", "5": "man-formats", "7": "man-formats"}
# per (label, package) paragraph caps: google-cloud-cli alone ships 16 000 man1 pages, and long
# changelogs would otherwise make a few packages most of their class.
CAP_PER_PKG = {"changes": 220, "copyright": 120, "readme": 260, "man-user": 260,
               "man-admin": 300, "man-api": 300, "man-formats": 300}


def owners():
    """file path -> owning package, from dpkg's file lists (sorted, so ties resolve the same way)."""
    own = {}
    for name in sorted(os.listdir(DPKG_INFO)):
        if not name.endswith(".list"):
            continue
        pkg = name[:-5].split(":")[0]
        with open(os.path.join(DPKG_INFO, name), encoding="utf-8", errors="replace") as f:
            for line in f:
                p = line.rstrip("\n")
                if p.startswith(DOC_ROOT) or p.startswith(MAN_ROOT):
                    own.setdefault(p, pkg)
    return own


def read_text(path):
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except Exception:
            return None
    if b"\0" in raw[:4096]:
        return None
    return raw.decode("utf-8", errors="replace")


# ---------------------------------------------------------------- roff
ESCAPES = [
    (re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""),        # font changes
    (re.compile(r"\\s[+-]?\d+"), ""),                    # size changes
    (re.compile(r"\\\*(\[[^\]]*\]|\(..|.)"), ""),        # string interpolation
    (re.compile(r"\\n(\[[^\]]*\]|\(..|.)"), ""),         # number registers
    (re.compile(r"\\[kmMh]\[[^\]]*\]|\\[hvwlLoxXbDNRSYZ]'[^']*'"), ""),
]
NAMED = {"em": "-", "en": "-", "hy": "-", "aq": "'", "dq": '"', "lq": '"', "rq": '"', "oq": "'",
         "cq": "'", "bu": "*", "co": "(c)", "rg": "(R)", "tm": "(tm)", "mu": "x", "<=": "<=",
         ">=": ">=", "ti": "~", "ha": "^", "rs": "\\", "ga": "`", "ba": "|", "bv": "|", "Fo": "<<",
         "Fc": ">>", "fo": "<", "fc": ">", "->": "->", "<-": "<-", "de": " degrees", "pl": "+",
         "mi": "-", "eq": "=", "sl": "/", "ul": "_", "at": "@", "sh": "#", "Do": "$", "lB": "[",
         "rB": "]", "lC": "{", "rC": "}"}


def roff_line_text(s):
    for rx, rep in ESCAPES:
        s = rx.sub(rep, s)
    s = re.sub(r"\\\((..)", lambda m: NAMED.get(m.group(1), ""), s)
    s = re.sub(r"\\\[([^\]]*)\]", lambda m: NAMED.get(m.group(1), ""), s)
    s = s.replace("\\-", "-").replace("\\e", "\\").replace("\\(", "(").replace("\\ ", " ")
    s = s.replace("\\~", " ").replace("\\0", " ").replace("\\|", "").replace("\\^", "")
    s = s.replace("\\&", "").replace("\\/", "").replace("\\,", "").replace("\\:", "")
    s = s.replace("\\c", "").replace("\\%", "").replace("\\.", ".").replace("\\'", "'")
    s = s.replace("\\`", "`").replace('\\"', "")
    s = re.sub(r"\\.", "", s)
    return s


BREAK_MACROS = {"SH", "SS", "PP", "P", "LP", "TP", "IP", "HP", "sp", "br", "Sh", "Ss", "Pp", "Bl",
                "El", "It", "Bd", "Ed", "RS", "RE", "TQ", "nf", "fi", "EX", "EE", "TH", "Dd", "Nd"}
TEXT_MACROS = {"B", "I", "BI", "IB", "BR", "RB", "IR", "RI", "SM", "SB", "Nm", "Ar", "Fl", "Cm",
               "Em", "Sy", "Li", "Pa", "Va", "Fn", "Fa", "Xr", "Dv", "Er", "Ev", "Ql", "Dq", "Sq",
               "Pq", "Op", "UR", "MT", "Nd", "Tn", "Ic", "Ft", "Vt", "Lb", "Mt", "Lk"}


def strip_roff(src):
    """roff man/mdoc source -> paragraphs of running text (approximate, deterministic)."""
    paras, cur = [], []
    skipping = None       # end token of a .de/.ig block being skipped
    in_table = False

    def flush():
        if cur:
            paras.append(" ".join(cur))
            cur.clear()

    for line in src.split("\n"):
        if skipping is not None:
            if line.strip().startswith(skipping):
                skipping = None
            continue
        if in_table:
            if line.startswith(".TE"):
                in_table = False
            continue
        if line.startswith(".") or line.startswith("'"):
            m = re.match(r"[.'][ \t]*(\S*)\s*(.*)", line)
            name, rest = (m.group(1), m.group(2)) if m else ("", "")
            if name.startswith('\\"') or name == "":
                continue
            if name in ("de", "de1", "am", "ig"):
                skipping = ".." if name != "ig" else (rest.strip() and "." + rest.strip()) or ".."
                continue
            if name == "TS":
                in_table = True
                flush()
                continue
            if name in BREAK_MACROS:
                flush()
                if name in ("SH", "SS", "Sh", "Ss"):
                    continue      # section titles are not paragraph text
                if name == "TP" or name == "IP":
                    t = roff_line_text(rest.strip('"')) if name == "IP" else ""
                    if t.strip():
                        cur.append(t.strip())
                continue
            if name in TEXT_MACROS:
                t = roff_line_text(rest.replace('"', " "))
                if t.strip():
                    cur.append(t.strip())
            continue          # any other request (.if, .ie, .nr, .ds, .so, ...) is markup
        if not line.strip():
            flush()
            continue
        t = roff_line_text(line)
        if t.strip():
            cur.append(t.strip())
    flush()
    return paras


# ---------------------------------------------------------------- plain text
def plain_paragraphs(text):
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = [l.strip() for l in block.split("\n")]
        out.append(" ".join(l for l in lines if l))
    return out


def changelog_paragraphs(text):
    """Debian changelogs have no blank lines between entries' items: one paragraph per '*' item."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        items, cur = [], []
        for l in block.split("\n"):
            s = l.strip()
            if re.match(r"^[*+-] ", s) and cur:
                items.append(" ".join(cur))
                cur = []
            if s:
                cur.append(s)
        if cur:
            items.append(" ".join(cur))
        out.extend(items)
    return out


SENT = re.compile(r"(?<=[.!?;:])\s+")
LETTERS = re.compile(r"[A-Za-z]")


def clean(paras):
    out = []
    for p in paras:
        p = re.sub(r"\s+", " ", p).strip()
        if not p:
            continue
        words = p.split(" ")
        pieces = [p]
        if len(words) > MAX_WORDS:
            pieces, cur = [], []
            for s in SENT.split(p):
                if cur and len(cur) + len(s.split(" ")) > MAX_WORDS:
                    pieces.append(" ".join(cur))
                    cur = []
                cur.extend(s.split(" "))
            if cur:
                pieces.append(" ".join(cur))
            pieces = [" ".join(x.split(" ")[:MAX_WORDS]) for x in pieces]
        for x in pieces:
            n = len(x.split(" "))
            if n < MIN_WORDS:
                continue
            if sum(1 for c in x if ord(c) > 127) > 0.02 * len(x):
                continue      # mostly English only: translations sit in other folders
            if len(LETTERS.findall(x)) < 0.5 * len(x):
                continue      # tables, hex dumps, ASCII art
            out.append(x)
    return out


def doc_label(name):
    n = name.lower()
    base = n[:-3] if n.endswith(".gz") else n
    if base == "copyright":
        return "copyright"
    if base.startswith("changelog") or base.startswith("news"):
        return "changes"
    if (base.startswith("readme") or base.startswith("todo") or base.startswith("faq")
            or base.endswith(".md") or base.endswith(".rst") or base.endswith(".txt")):
        return "readme"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--max-mib", type=float, default=3.9)
    args = ap.parse_args()
    own = owners()
    docs = []   # (label, pkg, path, paragraphs)

    for d in sorted(os.listdir(DOC_ROOT)):
        top = os.path.join(DOC_ROOT, d)
        if os.path.islink(top) or not os.path.isdir(top):
            continue
        for root, dirs, files in os.walk(top):
            dirs[:] = sorted(x for x in dirs if not os.path.islink(os.path.join(root, x)))
            if root.count("/") - top.count("/") > 1:
                continue
            for fn in sorted(files):
                path = os.path.join(root, fn)
                lab = doc_label(fn)
                if lab is None or os.path.islink(path):
                    continue
                text = read_text(path)
                if not text:
                    continue
                paras = changelog_paragraphs(text) if lab == "changes" else plain_paragraphs(text)
                docs.append((lab, own.get(path, d), path, clean(paras)))

    for sec in "12345678":
        mdir = os.path.join(MAN_ROOT, "man" + sec)
        if not os.path.isdir(mdir):
            continue
        for fn in sorted(os.listdir(mdir)):
            path = os.path.join(mdir, fn)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            text = read_text(path)
            if not text or text.lstrip().startswith(".so "):
                continue
            pkg = own.get(path)
            if pkg is None:
                continue
            docs.append((MAN_LABEL[sec], pkg, path, clean(strip_roff(text))))

    docs.sort(key=lambda x: (x[0], x[1], x[2]))
    seen = set()
    used = collections.Counter()
    rows = []
    for lab, pkg, path, paras in docs:
        keep = []
        for p in paras:
            key = hashlib.sha256(p.lower().encode()).digest()[:12]
            if key in seen:
                continue      # licence boilerplate and shared man sections appear many times
            seen.add(key)
            if used[(lab, pkg)] >= CAP_PER_PKG[lab] or len(keep) >= MAX_PARAS_PER_DOC:
                break
            used[(lab, pkg)] += 1
            keep.append(p)
        if keep:
            bucket = int(hashlib.sha256(pkg.encode()).hexdigest(), 16) % 100
            rows.append({"g": pkg, "l": lab, "s": "eval" if bucket < EVAL_PERCENT else "train", "p": keep})

    # thin the largest classes, evenly over packages, until the compressed file fits the budget
    def encode(rs):
        body = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rs).encode()
        return body, lzma.compress(body, preset=9 | lzma.PRESET_EXTREME)

    body, xz = encode(rows)
    scale = 1.0
    while len(xz) > args.max_mib * 1024 * 1024:
        scale *= 0.9
        caps = {k: max(20, int(v * scale)) for k, v in CAP_PER_PKG.items()}
        cnt = collections.Counter()
        thinned = []
        for r in rows:
            room = caps[r["l"]] - cnt[(r["l"], r["g"])]
            if room <= 0:
                continue
            p = r["p"][:room]
            cnt[(r["l"], r["g"])] += len(p)
            thinned.append(dict(r, p=p))
        body, xz = encode(thinned)
        print("thinned to caps x%.2f: %.2f MiB" % (scale, len(xz) / 2**20), file=sys.stderr)
        rows_final = thinned
    else:
        pass
    if scale == 1.0:
        rows_final = rows

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "wb") as f:
        f.write(xz)
    stats = collections.defaultdict(lambda: collections.Counter())
    for r in rows_final:
        stats[r["l"]][r["s"] + "_paras"] += len(r["p"])
        stats[r["l"]][r["s"] + "_docs"] += 1
    pk = collections.defaultdict(set)
    for r in rows_final:
        pk[(r["l"], r["s"])].add(r["g"])
    summary = {
        "bytes_raw": len(body), "bytes_xz": len(xz), "sha256_xz": hashlib.sha256(xz).hexdigest(),
        "documents": len(rows_final), "paragraphs": sum(len(r["p"]) for r in rows_final),
        "per_label": {l: dict(c, train_pkgs=len(pk[(l, "train")]), eval_pkgs=len(pk[(l, "eval")]))
                      for l, c in sorted(stats.items())},
    }
    with open(os.path.splitext(os.path.splitext(args.out)[0])[0] + "-stats.json", "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
        f.write("\n")
    print(json.dumps(summary, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
