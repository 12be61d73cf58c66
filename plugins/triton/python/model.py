"""Triton Python-backend model written by qrun's triton step: raw text in, token tensors out.

TEXT (TYPE_STRING, one string per row) -> the ONNX model's token inputs (input_ids, attention_mask,
token_type_ids: whichever the model takes, in the data type its config declares), padded to the
longest text of the request and truncated to the model's maximum length, with the model's own
tokenizer.json (copied beside this file) through the `tokenizers` library.

Two parts: TextTokenizer does the tokenization and knows nothing of Triton; TritonPythonModel is
the glue to Triton's Python backend (initialize / execute / finalize).
"""

import json
import os

import numpy as np


class TextTokenizer:
    """A batch of strings -> padded integer arrays, one per requested output name."""

    def __init__(self, tokenizer_json, max_length, pad_id, outputs):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(tokenizer_json)
        # Truncation keeps room for the special tokens the post-processor adds ([CLS] ... [SEP]),
        # so the last token stays [SEP] (qrun's TypeScript tokenizer truncates the same way).
        self.tokenizer.enable_truncation(max_length=max_length)
        pad_token = self.tokenizer.id_to_token(pad_id)
        # No fixed length: pad to the longest encoding of the batch.
        self.tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token if pad_token is not None else "[PAD]")
        self.outputs = outputs  # name -> numpy dtype

    def __call__(self, texts):
        encodings = self.tokenizer.encode_batch(list(texts))
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        return {name: np.array(columns[name], dtype=dtype) for name, dtype in self.outputs.items()}


def texts_of(array):
    """A TYPE_STRING tensor ([batch, 1] or [n]) as Python strings; Triton hands over bytes."""
    return [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in array.reshape(-1)]


class TritonPythonModel:
    def initialize(self, args):
        import triton_python_backend_utils as pb_utils

        self.pb_utils = pb_utils
        config = json.loads(args["model_config"])
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        outputs = {o["name"]: pb_utils.triton_string_to_numpy(o["data_type"]) for o in config["output"]}
        folder = os.path.join(args["model_repository"], args["model_version"])
        self.input_name = config["input"][0]["name"]
        self.tokenizer = TextTokenizer(
            os.path.join(folder, "tokenizer.json"),
            int(parameters["max_length"]),
            int(parameters["pad_id"]),
            outputs,
        )

    def execute(self, requests):
        pb_utils = self.pb_utils
        responses = []
        # Each request is tokenized on its own: requests are not padded to each other's length.
        for request in requests:
            try:
                tensor = pb_utils.get_input_tensor_by_name(request, self.input_name)
                if tensor is None:
                    raise ValueError(f"the request has no {self.input_name} input")
                texts = texts_of(tensor.as_numpy())
                arrays = self.tokenizer(texts)
                tensors = [pb_utils.Tensor(name, array) for name, array in arrays.items()]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            except Exception as error:  # one bad request must not fail the others
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(str(error))))
        return responses

    def finalize(self):
        self.tokenizer = None
