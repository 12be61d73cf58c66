"""A stand-in for the `tokenizers` library in qrun's tests, where the real one is not installed.
Not a tokenizer: each word becomes its length, between ids 101 and 102. It records the truncation
and padding settings model.py asks for, and applies them as the real library does (truncation
leaves room for the two special tokens; padding to the longest of the batch)."""

import json

CALLS = []


class Encoding:
    def __init__(self, ids):
        self.ids = ids
        self.attention_mask = [1] * len(ids)
        self.type_ids = [0] * len(ids)


class Tokenizer:
    def __init__(self, vocab):
        self.vocab = vocab
        self.max_length = None
        self.pad_id = None

    @staticmethod
    def from_file(path):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        CALLS.append(("from_file", path.replace("\\", "/").split("/")[-1]))
        return Tokenizer(data["model"]["vocab"])

    def id_to_token(self, i):
        for token, index in self.vocab.items():
            if index == i:
                return token
        return None

    def enable_truncation(self, max_length):
        CALLS.append(("enable_truncation", max_length))
        self.max_length = max_length

    def enable_padding(self, pad_id=0, pad_token="[PAD]"):
        CALLS.append(("enable_padding", pad_id, pad_token))
        self.pad_id = pad_id

    def encode_batch(self, texts):
        encodings = []
        for text in texts:
            words = [len(w) for w in text.split()]
            if self.max_length is not None:
                words = words[: self.max_length - 2]
            encodings.append(Encoding([101] + words + [102]))
        longest = max(len(e.ids) for e in encodings)
        for e in encodings:
            pad = longest - len(e.ids)
            e.ids += [self.pad_id] * pad
            e.attention_mask += [0] * pad
            e.type_ids += [0] * pad
        return encodings
