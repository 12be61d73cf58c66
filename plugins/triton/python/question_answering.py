"""Triton Python-backend model written by qrun's triton step for extractive question answering.
The same file serves two models of the repository, by its config's `role` parameter:

  role "tokenizer"   QUESTION, CONTEXT (TYPE_STRING [batch, 1]) → the ONNX model's token inputs
                     (input_ids, attention_mask, token_type_ids: those the model takes, in its types),
                     each pair encoded question first with only the context truncated to max_length
                     (tokenizers' TruncationStrategy "only_second"), padded to the longest pair.
  role "answer"      QUESTION, CONTEXT, start_logits, end_logits [batch, tokens] → ANSWER
                     (TYPE_STRING [batch, 1]): per pair a JSON object
                     {"answer": "Invert the sense of matching", "score": 0.93, "start": 20, "end": 48}
                     with start/end character offsets into the context (Python string indices).

The answer model encodes the pair again with the same tokenizer.json and truncation, which gives each
token its sequence id, character offsets and word, and picks the span as transformers'
question-answering pipeline does (QuestionAnsweringPipeline.postprocess, top_k=1): positions
outside the context get −10000, a softmax over the sequence keeps [CLS] in and then zeroes it, the
best p_start·p_end over start ≤ end < start + max_answer_len among context tokens wins (ties: the
first in row-major order), and the span widens to whole words (align_to_words).

Two parts: QaTokenizer / AnswerDecoder do the work and know nothing of Triton; TritonPythonModel is
the glue to Triton's Python backend (initialize / execute / finalize).
"""

import json
import os

import numpy as np


def pair_tokenizer(tokenizer_json, max_length):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_json)
    tokenizer.enable_truncation(max_length=max_length, strategy="only_second")
    tokenizer.no_padding()
    return tokenizer


class QaTokenizer:
    """(question, context) pairs → padded integer arrays, one per requested output name."""

    def __init__(self, tokenizer_json, max_length, pad_id, outputs):
        self.tokenizer = pair_tokenizer(tokenizer_json, max_length)
        self.pad_id = pad_id
        self.outputs = outputs  # name -> numpy dtype

    def __call__(self, questions, contexts):
        encodings = self.tokenizer.encode_batch(list(zip(questions, contexts)))
        width = max(len(e.ids) for e in encodings)
        pad = lambda rows, value: [r + [value] * (width - len(r)) for r in rows]
        columns = {
            "input_ids": pad([e.ids for e in encodings], self.pad_id),
            "attention_mask": pad([[1] * len(e.ids) for e in encodings], 0),
            "token_type_ids": pad([e.type_ids for e in encodings], 0),
        }
        return {name: np.array(columns[name], dtype=dtype) for name, dtype in self.outputs.items()}


UNDESIRED = -10000.0


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def best_span(start, end, context_tokens, max_answer_len):
    """(start token, end token, score) as the pipeline chooses it; context_tokens: indices, contiguous."""
    n = len(start)
    desired = np.zeros(n, dtype=bool)
    desired[context_tokens] = True
    keep = desired.copy()
    keep[0] = True  # the pipeline leaves [CLS] in the softmax
    ps = softmax(np.where(keep, start, UNDESIRED))
    pe = softmax(np.where(keep, end, UNDESIRED))
    ps[0] = pe[0] = 0.0
    outer = np.outer(ps, pe)
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    candidates[~desired, :] = 0.0
    candidates[:, ~desired] = 0.0
    flat = int(np.argmax(candidates))
    s, e = divmod(flat, n)
    return s, e, float(candidates[s, e])


def widen_to_words(s, e, word_ids, offsets, sequence_ids):
    """The span's characters, widened to whole words of the context (align_to_words)."""
    first, last = s, e
    while first - 1 >= 0 and sequence_ids[first - 1] == 1 and word_ids[first - 1] == word_ids[s]:
        first -= 1
    while last + 1 < len(word_ids) and sequence_ids[last + 1] == 1 and word_ids[last + 1] == word_ids[e]:
        last += 1
    return offsets[first][0], offsets[last][1]


class AnswerDecoder:
    """Pairs + their start/end logits [batch, tokens] (padded) → one answer per pair."""

    def __init__(self, tokenizer_json, max_length, max_answer_len):
        self.tokenizer = pair_tokenizer(tokenizer_json, max_length)
        self.max_answer_len = max_answer_len

    def __call__(self, questions, contexts, start_logits, end_logits):
        start_logits, end_logits = np.asarray(start_logits, dtype=np.float64), np.asarray(end_logits, dtype=np.float64)
        if start_logits.ndim != 2 or start_logits.shape[0] != len(questions) or start_logits.shape != end_logits.shape:
            raise ValueError(f"start/end logits have shapes {list(start_logits.shape)}, {list(end_logits.shape)}; expected [{len(questions)}, tokens] each")
        encodings = self.tokenizer.encode_batch(list(zip(questions, contexts)))
        out = []
        for i, (context, e) in enumerate(zip(contexts, encodings)):
            n = len(e.ids)
            if n > start_logits.shape[1]:
                raise ValueError(f"pair {i} has {n} tokens but its logits only {start_logits.shape[1]}: was it tokenized with another tokenizer?")
            sequence_ids = [(-1 if s is None else s) for s in e.sequence_ids]
            context_tokens = [k for k, s in enumerate(sequence_ids) if s == 1]
            s, t, score = best_span(start_logits[i, :n], end_logits[i, :n], context_tokens, self.max_answer_len)
            a, b = widen_to_words(s, t, e.word_ids, e.offsets, sequence_ids)
            out.append({"answer": context[a:b], "score": round(score, 6), "start": int(a), "end": int(b)})
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
        tokenizer_json = os.path.join(folder, "tokenizer.json")
        self.role = parameters["role"]
        max_length = int(parameters["max_length"])
        if self.role == "tokenizer":
            outputs = {o["name"]: pb_utils.triton_string_to_numpy(o["data_type"]) for o in config["output"]}
            self.work = QaTokenizer(tokenizer_json, max_length, int(parameters["pad_id"]), outputs)
        elif self.role == "answer":
            self.output_name = config["output"][0]["name"]
            self.work = AnswerDecoder(tokenizer_json, max_length, int(parameters["max_answer_len"]))
        else:
            raise ValueError(f"unknown role {self.role!r} (tokenizer or answer)")

    def execute(self, requests):
        pb_utils = self.pb_utils
        responses = []
        for request in requests:
            try:
                get = lambda name: pb_utils.get_input_tensor_by_name(request, name)
                question, context = get("QUESTION"), get("CONTEXT")
                if question is None or context is None:
                    raise ValueError("the request needs QUESTION and CONTEXT inputs")
                questions, contexts = texts_of(question.as_numpy()), texts_of(context.as_numpy())
                if len(questions) != len(contexts):
                    raise ValueError(f"{len(questions)} questions but {len(contexts)} contexts")
                if self.role == "tokenizer":
                    arrays = self.work(questions, contexts)
                    tensors = [pb_utils.Tensor(name, array) for name, array in arrays.items()]
                else:
                    start, end = get("start_logits"), get("end_logits")
                    if start is None or end is None:
                        raise ValueError("the request needs start_logits and end_logits inputs")
                    answers = self.work(questions, contexts, start.as_numpy(), end.as_numpy())
                    shape = question.as_numpy().shape
                    encoded = np.array([json.dumps(a, ensure_ascii=False).encode("utf-8") for a in answers], dtype=np.object_).reshape(shape)
                    tensors = [pb_utils.Tensor(self.output_name, encoded)]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            except Exception as error:  # one bad request must not fail the others
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(str(error))))
        return responses

    def finalize(self):
        self.work = None
