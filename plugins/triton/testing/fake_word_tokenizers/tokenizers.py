"""A stand-in for the `tokenizers` library for the entities model's tests, where the real one is not
installed. Not a tokenizer: each BERT pre-tokenizer word (whitespace-separated, every punctuation
character alone) becomes one token (its length), between [CLS] 101 and [SEP] 102, with the word ids
and character offsets the real library gives a BERT tokenizer for such words; truncation keeps room
for the two special tokens, as the real library does. It records the settings model.py asks for."""

import unicodedata

CALLS = []


def _is_punctuation(ch):
    cp = ord(ch)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or unicodedata.category(ch).startswith("P")


def _words(text):
    out, start = [], None
    for i, ch in enumerate(text + " "):
        if ch.isspace() or _is_punctuation(ch):
            if start is not None:
                out.append((start, i))
                start = None
            if _is_punctuation(ch):
                out.append((i, i + 1))
        elif start is None:
            start = i
    return out


class Encoding:
    def __init__(self, spans, max_length):
        if max_length is not None:
            spans = spans[: max_length - 2]
        self.ids = [101] + [e - s for s, e in spans] + [102]
        self.word_ids = [None] + list(range(len(spans))) + [None]
        self.offsets = [(0, 0)] + list(spans) + [(0, 0)]
        self.attention_mask = [1] * len(self.ids)


class Tokenizer:
    def __init__(self):
        self.max_length = None

    @staticmethod
    def from_file(path):
        CALLS.append(("from_file", path.replace("\\", "/").split("/")[-1]))
        return Tokenizer()

    def enable_truncation(self, max_length):
        CALLS.append(("enable_truncation", max_length))
        self.max_length = max_length

    def no_padding(self):
        CALLS.append(("no_padding",))

    def encode_batch(self, texts):
        return [Encoding(_words(t), self.max_length) for t in texts]
