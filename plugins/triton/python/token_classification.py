"""Triton Python-backend model written by qrun's triton step for token classification (NER): the
text and the model's logits in, the entities out, as JSON.

  TEXT     TYPE_STRING  [batch, 1]              the texts the ensemble was sent
  logits   TYPE_FP32    [batch, tokens, labels] the token-classification model's output for them
  ENTITIES TYPE_STRING  [batch, 1]              per text, a JSON list of
           {"entity_group": "PATH", "score": 0.98, "word": "/etc/passwd", "start": 9, "end": 20,
            "words": ["/", "etc", "/", "passwd"]}

The text is tokenized again with the model's tokenizer.json (copied beside this file) and the same
truncation as the tokenizer model, which gives each token its word and character offsets. Words
are the tokenizer's pre-tokenizer splits. Each word takes the label of its first sub-token
(transformers' aggregation_strategy="first": the argmax of that token's logits; its softmax
probability is the word's score); words are grouped into entities by their BIO tags with
seqeval's default chunking (conlleval's rules: an I- tag after O or another type starts an
entity), and an entity's score is the mean of its words' scores. start/end are character offsets
into the text (Python string indices: Unicode code points); words cut off by truncation are not
in any entity.

Two parts: EntityDecoder and the functions above it do the work and know nothing of Triton;
TritonPythonModel is the glue to Triton's Python backend (initialize / execute / finalize).
"""

import json
import os

import numpy as np


def split_tag(tag):
    """'B-PER' → ('B', 'PER'); 'O' → ('O', '_'), as seqeval reads a tag."""
    return tag[0], (tag[1:].split("-", 1)[-1] or "_")


def end_of_chunk(prev_tag, tag, prev_type, type_):
    return (prev_tag in ("E", "S") or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
            or (prev_tag not in ("O", ".") and prev_type != type_))


def start_of_chunk(prev_tag, tag, prev_type, type_):
    return (tag in ("B", "S") or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
            or (tag not in ("O", ".") and prev_type != type_))


def chunks(tags):
    """(type, first word, last word) of each entity in one tag sequence (seqeval's get_entities)."""
    prev_tag, prev_type, begin, out = "O", "", 0, []
    for i, t in enumerate(list(tags) + ["O"]):
        tag, type_ = split_tag(t)
        if end_of_chunk(prev_tag, tag, prev_type, type_):
            out.append((prev_type, begin, i - 1))
        if start_of_chunk(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return out


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def words_of(word_ids, offsets, logits, labels):
    """Per word (in order): its character span and the label and score of its first sub-token."""
    probs = softmax(np.asarray(logits, dtype=np.float64))
    words = []
    for k, w in enumerate(word_ids):
        if w is None or k >= len(probs):
            continue
        if words and words[-1]["id"] == w:
            words[-1]["end"] = offsets[k][1]
            continue
        best = int(np.argmax(probs[k]))
        words.append({"id": w, "start": offsets[k][0], "end": offsets[k][1], "label": labels[best], "score": float(probs[k, best])})
    return words


def entities_of(text, word_ids, offsets, logits, labels):
    """The entities of one text, from its encoding (word ids, offsets) and its logits [tokens, labels]."""
    words = words_of(word_ids, offsets, logits, labels)
    out = []
    for type_, first, last in chunks([w["label"] for w in words]):
        span = words[first:last + 1]
        start, end = span[0]["start"], span[-1]["end"]
        out.append({
            "entity_group": type_,
            "score": round(float(np.mean([w["score"] for w in span])), 6),
            "word": text[start:end],
            "start": start,
            "end": end,
            "words": [text[w["start"]:w["end"]] for w in span],
        })
    return out


class EntityDecoder:
    """Texts + their logits [batch, tokens, labels] (padded) → a list of entities per text."""

    def __init__(self, tokenizer_json, max_length, labels):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(tokenizer_json)
        # The tokenizer model's truncation, so the tokens here are the ones the logits belong to.
        self.tokenizer.enable_truncation(max_length=max_length)
        self.tokenizer.no_padding()
        self.labels = list(labels)

    def __call__(self, texts, logits):
        logits = np.asarray(logits)
        if logits.ndim != 3 or logits.shape[0] != len(texts) or logits.shape[2] != len(self.labels):
            raise ValueError(f"logits have shape {list(logits.shape)}; expected [{len(texts)}, tokens, {len(self.labels)}]")
        encodings = self.tokenizer.encode_batch(list(texts))
        out = []
        for i, (text, e) in enumerate(zip(texts, encodings)):
            if len(e.ids) > logits.shape[1]:
                raise ValueError(f"text {i} has {len(e.ids)} tokens but its logits only {logits.shape[1]}: was it tokenized with another tokenizer?")
            out.append(entities_of(text, e.word_ids, e.offsets, logits[i, :len(e.ids)], self.labels))
        return out


def texts_of(array):
    """A TYPE_STRING tensor ([batch, 1] or [n]) as Python strings; Triton hands over bytes."""
    return [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in array.reshape(-1)]


class TritonPythonModel:
    def initialize(self, args):
        import triton_python_backend_utils as pb_utils

        self.pb_utils = pb_utils
        config = json.loads(args["model_config"])
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        folder = os.path.join(args["model_repository"], args["model_version"])
        self.output_name = config["output"][0]["name"]
        self.decoder = EntityDecoder(
            os.path.join(folder, "tokenizer.json"),
            int(parameters["max_length"]),
            json.loads(parameters["labels"]),
        )

    def execute(self, requests):
        pb_utils = self.pb_utils
        responses = []
        for request in requests:
            try:
                text = pb_utils.get_input_tensor_by_name(request, "TEXT")
                logits = pb_utils.get_input_tensor_by_name(request, "logits")
                if text is None or logits is None:
                    raise ValueError("the request needs TEXT and logits inputs")
                texts = text.as_numpy()
                found = self.decoder(texts_of(texts), logits.as_numpy())
                # One JSON string per text, in TEXT's shape ([batch, 1], or [n] without batching).
                encoded = np.array([json.dumps(e, ensure_ascii=False).encode("utf-8") for e in found], dtype=np.object_).reshape(texts.shape)
                responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(self.output_name, encoded)]))
            except Exception as error:  # one bad request must not fail the others
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(str(error))))
        return responses

    def finalize(self):
        self.decoder = None
