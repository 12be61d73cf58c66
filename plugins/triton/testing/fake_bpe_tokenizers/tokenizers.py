"""A stand-in for the `tokenizers` library in qrun's tests, where the real one is not installed: a
plain-Python GPT-2 byte-level BPE read from tokenizer.json (added tokens split out first; the
ByteLevel pre-tokenizer's regex, add_prefix_space as the file says; BPE merges by rank; the
ByteLevel decoder). Only that tokenizer shape: anything else is refused rather than tokenized
differently. tests compare its ids with qrun's TypeScript tokenizer (@huggingface/tokenizers) on
the evaluation texts before trusting it. Needs the `regex` module (\\p{L} classes)."""

import json

import regex

__version__ = "fake-bpe"
CALLS = []

GPT2_SPLIT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class Encoding:
    def __init__(self, ids):
        self.ids = ids
        self.attention_mask = [1] * len(ids)


class Tokenizer:
    def __init__(self, data):
        model = data["model"]
        pre = data.get("pre_tokenizer") or {}
        if model.get("type") != "BPE" or pre.get("type") != "ByteLevel":
            raise ValueError("the fake tokenizers module only does byte-level BPE (model BPE, pre_tokenizer ByteLevel)")
        self.vocab = model["vocab"]
        self.inverse = {i: t for t, i in self.vocab.items()}
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.prefix_space = bool(pre.get("add_prefix_space"))
        self.byte_map = bytes_to_unicode()
        self.char_map = {c: b for b, c in self.byte_map.items()}
        self.added = {t["content"]: t["id"] for t in data.get("added_tokens", [])}
        for t in data.get("added_tokens", []):
            self.inverse[t["id"]] = t["content"]
        self.specials = {t["id"] for t in data.get("added_tokens", []) if t.get("special")}
        self.cache = {}

    @staticmethod
    def from_file(path):
        CALLS.append(("from_file", path.replace("\\", "/").split("/")[-1]))
        with open(path, encoding="utf-8") as f:
            return Tokenizer(json.load(f))

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        parts = list(word)
        while len(parts) > 1:
            pairs = [(self.ranks.get((parts[i], parts[i + 1]), None), i) for i in range(len(parts) - 1)]
            pairs = [p for p in pairs if p[0] is not None]
            if not pairs:
                break
            rank, _ = min(pairs)
            a, b = next((parts[i], parts[i + 1]) for r, i in pairs if r == rank)
            merged, i = [], 0
            while i < len(parts):
                if i < len(parts) - 1 and parts[i] == a and parts[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        ids = [self.vocab[p] for p in parts]
        self.cache[word] = ids
        return ids

    def encode_text(self, text):
        if self.prefix_space and text and not text.startswith(" "):
            text = " " + text
        ids = []
        for piece in GPT2_SPLIT.findall(text):
            ids.extend(self.bpe("".join(self.byte_map[b] for b in piece.encode("utf-8"))))
        return ids

    def encode(self, text):
        ids = []
        rest = text
        # Added tokens are matched in the raw text first (longest first), as the library does.
        specials = sorted(self.added, key=len, reverse=True)
        while rest:
            hits = [(rest.find(s), s) for s in specials if s and rest.find(s) >= 0]
            if not hits:
                ids.extend(self.encode_text(rest))
                break
            at, s = min(hits, key=lambda h: (h[0], -len(h[1])))
            ids.extend(self.encode_text(rest[:at]))
            ids.append(self.added[s])
            rest = rest[at + len(s):]
        return Encoding(ids)

    def no_padding(self):
        CALLS.append(("no_padding",))

    def no_truncation(self):
        CALLS.append(("no_truncation",))

    def encode_batch(self, texts):
        CALLS.append(("encode_batch", len(texts)))
        return [self.encode(t) for t in texts]

    def decode(self, ids, skip_special_tokens=True):
        out, chars = [], []
        for i in ids:
            if i in self.specials:
                if not skip_special_tokens:
                    chars.append(self.inverse[i])
                continue
            chars.append(self.inverse[i])
        data = bytes(self.char_map[c] for c in "".join(chars) if c in self.char_map)
        out.append(data.decode("utf-8", errors="replace"))
        return "".join(out)
