#!/usr/bin/env python3
"""Option descriptions from the English manual pages of this Debian machine (stdlib only).

Reads every /usr/share/man/man{1,5,8}/*.gz page written with the man(7) macros, finds the
`.TP` / `.IP` entries of its OPTIONS-like sections whose tag starts with a dash (an option),
renders the groff source to plain text (fonts, escapes and common macros; no groff needed), and
writes one JSON line per page: {"page": "grep(1)", "options": [[tag, description], ...]}, xz-compressed
(at most MAX_OPTIONS options a page, each description cut after the sentence that passes
MAX_DESCRIPTION characters: the file travels to the GPU machine, whose inputs are limited to 4 MiB).

Deterministic: pages are read in sorted order, nothing depends on the clock or the locale.
    python3 scripts/make-qa-model/extract_options.py OUT.jsonl.xz
"""
import gzip
import json
import lzma
import os
import re
import sys

MAN = "/usr/share/man"
SECTIONS = ("man1", "man5", "man8")
MAX_OPTIONS = 20
MAX_DESCRIPTION = 240
MAX_REPEATS = 3
SENTENCE_END = re.compile(r"(?<=[a-z0-9)\"']\.)\s+(?=[A-Z])")
OPTION_SECTION = re.compile(r"OPTION|SWITCH|FLAG|ARGUMENT|PARAMETER", re.I)

# Named glyphs (groff_char(7)) that appear in option text, as plain ASCII.
GLYPHS = {
    "lq": '"', "rq": '"', "oq": "'", "cq": "'", "aq": "'", "dq": '"', "em": "--", "en": "-",
    "hy": "-", "mi": "-", "bu": "*", "co": "(C)", "rg": "(R)", "tm": "(TM)", "mu": "x", "di": "/",
    "<=": "<=", ">=": ">=", "!=": "!=", "->": "->", "<-": "<-", "ti": "~", "ha": "^", "rs": "\\",
    "ga": "`", "at": "@", "sh": "#", "Do": "$", "bv": "|", "ba": "|", "or": "|", "pl": "+",
    "eq": "=", "fm": "'", "sd": '"', "ua": "^", "da": "v", "sl": "/", "dg": "+",
}
STRINGS = {"lq": '"', "rq": '"', "R": "(R)", "Tm": "(TM)", "C'": "'", "C`": "'", "Aq": "'"}


def unescape(s):
    """groff escapes → text: fonts dropped, \\- → -, glyphs, strings, zero-width marks removed."""
    s = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", s)          # font changes
    s = re.sub(r"\\s[+-]?\d", "", s)                       # size changes
    s = re.sub(r"\\\*\[([^\]]*)\]", lambda m: STRINGS.get(m.group(1), ""), s)
    s = re.sub(r"\\\*\((..)", lambda m: STRINGS.get(m.group(1), ""), s)
    s = re.sub(r"\\\*(.)", lambda m: STRINGS.get(m.group(1), ""), s)
    s = re.sub(r"\\\[([^\]]*)\]", lambda m: GLYPHS.get(m.group(1), ""), s)
    s = re.sub(r"\\\((..)", lambda m: GLYPHS.get(m.group(1), ""), s)
    s = re.sub(r"\\[hvwlLDoZkxXYNbn]'[^']*'", "", s)       # motions and the like
    s = re.sub(r"\\n(\(..|\[[^\]]*\]|.)", "", s)           # number registers
    s = s.replace("\\-", "-").replace("\\e", "\\").replace("\\ ", " ").replace("\\~", " ")
    s = s.replace("\\(", "(")
    s = re.sub(r"\\[&^|/,:%{}!c0dut)]", "", s)            # zero-width and spacing marks
    s = s.replace("\\\\", "\\")
    s = s.replace("\\'", "'").replace("\\`", "`").replace("\\.", ".")
    return s


def args(line):
    """Macro arguments with groff's quoting ("a b" is one argument)."""
    out, cur, quoted, i = [], "", False, 0
    while i < len(line):
        c = line[i]
        if c == '"':
            if quoted and i + 1 < len(line) and line[i + 1] == '"':
                cur += '"'
                i += 1
            else:
                quoted = not quoted
        elif c in " \t" and not quoted:
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    if cur:
        out.append(cur)
    return out


def render(line):
    """One source line → text (None for a request that produces no text, "\\n" for a break)."""
    if line.startswith(".\\\"") or line.startswith("'\\\"") or line.startswith('.\\"'):
        return None
    if line.startswith(".") or line.startswith("'"):
        parts = line[1:].strip().split(None, 1)
        if not parts:
            return None
        macro, rest = parts[0], (parts[1] if len(parts) > 1 else "")
        if macro in ("B", "I", "SM", "SB"):
            return unescape(" ".join(args(rest)))
        if macro in ("BR", "RB", "BI", "IB", "IR", "RI"):
            return unescape("".join(args(rest)))
        if macro in ("PP", "P", "LP", "sp", "br", "RS", "RE", "in", "ti", "nf", "fi", "HP"):
            return "\n"
        if macro in ("UR", "MT"):
            return unescape(rest)
        return None
    return unescape(line)


def clean(text):
    text = re.sub(r"[ \t]+", " ", text.replace("\n", " ")).strip()
    return text


def page_options(lines):
    """[(tag, description)] of the option entries in OPTIONS-like sections."""
    out = []
    in_options = False
    i = 0
    tag, body = None, []

    def flush():
        if tag is not None:
            t, d = clean(tag), clean(" ".join(body))
            if t.startswith("-") and d:
                out.append((t, d))

    while i < len(lines):
        line = lines[i]
        if line.startswith(".SH"):
            flush()
            tag, body = None, []
            name = clean(unescape(" ".join(args(line[3:]))))
            # Options are listed under OPTIONS, but coreutils (ls, cp, …) list them under DESCRIPTION.
            in_options = bool(OPTION_SECTION.search(name)) or name.upper() == "DESCRIPTION"
        elif not in_options:
            pass
        elif line.startswith(".TP"):
            flush()
            body = []
            # The tag is the next line that produces text.
            j = i + 1
            tag = None
            while j < len(lines):
                r = render(lines[j])
                if r is not None and r != "\n" and r.strip():
                    tag = r
                    break
                j += 1
            i = j
        elif line.startswith(".IP"):
            flush()
            body = []
            a = args(line[3:])
            tag = unescape(a[0]) if a else None
        elif line.startswith(".SS") or line.startswith(".PP") or line.startswith(".LP") or line.startswith(".P "):
            flush()
            tag, body = None, []
            # DocBook's man output (git, …): .PP, the option line, .RS 4, the description, .RE
            if line.startswith(".PP") and i + 2 < len(lines) and lines[i + 2].startswith(".RS"):
                r = render(lines[i + 1])
                if r and r.strip().startswith("-"):
                    tag = r
                    i += 2
        elif tag is not None:
            r = render(line)
            if r is not None:
                body.append(r if r != "\n" else " ")
        i += 1
    flush()
    return out


OK_TAG = re.compile(r"^-{1,2}[A-Za-z0-9?#@][^\s]*")


def good(tag, desc):
    if not OK_TAG.match(tag) or len(tag) > 60:
        return False
    if not (20 <= len(desc) <= 1200):
        return False
    if any(ord(c) > 126 for c in tag + desc) or "\\" in tag:
        return False
    if not desc[0].isalpha():
        return False
    return True


def shorten(desc):
    """The description's first sentences, up to the one that passes MAX_DESCRIPTION characters."""
    out = ""
    for sentence in SENTENCE_END.split(desc):
        if out and len(out) + len(sentence) > MAX_DESCRIPTION:
            break
        out = (out + " " + sentence).strip()
    return out


def main():
    out_path = sys.argv[1]
    pages = 0
    rows = []
    repeats = {}
    for sec in SECTIONS:
        folder = os.path.join(MAN, sec)
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".gz"):
                continue
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            try:
                with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
                    lines = f.read().splitlines()
            except (OSError, EOFError):
                continue
            if any(l.startswith(".Dd") or l.startswith(".Sh") for l in lines[:80]):
                continue  # mdoc pages: another macro set
            if lines and lines[0].startswith(".so "):
                continue
            pages += 1
            opts, seen = [], set()
            for tag, desc in page_options(lines):
                short = shorten(desc) if good(tag, desc) else ""
                # The Google Cloud SDK's 15k generated pages repeat the same few flags: a
                # description already seen MAX_REPEATS times adds nothing but weight.
                if short and tag not in seen and repeats.get(short, 0) < MAX_REPEATS:
                    seen.add(tag)
                    repeats[short] = repeats.get(short, 0) + 1
                    opts.append([tag, short])
            if len(opts) >= 2:
                base = name[:-3]
                stem, _, section = base.rpartition(".")
                rows.append({"page": f"{stem}({section})", "options": opts[:MAX_OPTIONS]})
    # preset 9 with a fixed filter chain: the same bytes on every run of the same Python.
    with lzma.open(out_path, "wt", preset=9) as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=True) + "\n")
    n = sum(len(r["options"]) for r in rows)
    print(f"{pages} man(7) pages read, {len(rows)} with >= 2 options, {n} options -> {out_path}")


if __name__ == "__main__":
    main()
