"""Triton Python-backend model written by qrun's triton step for text generation: text in, the
greedy continuation out.

  TEXT            TYPE_STRING  [batch, 1]   the prompts
  GENERATED_TEXT  TYPE_STRING  [batch, 1]   per prompt, the generated text (the continuation only,
                                            without the prompt; transformers' return_full_text=False)

Each prompt is tokenized with the model's tokenizer.json (copied beside this file; no special
tokens added unless its post-processor adds them, as the tokenizers library's encode does), and
keeps its last max_positions - max_new_tokens tokens so the sequence fits the position table. The
prompts of one execute() call (every request Triton's dynamic batcher put in it) are decoded
together, left-padded: attention_mask 0 on the padding, position_ids = cumsum(mask) - 1 with the
padding at 1, as transformers builds them. The decode loop is greedy with the KV cache against the
decoder ONNX model served beside this one by Triton's onnxruntime backend, called through Triton's
business logic scripting (BLS: pb_utils.InferenceRequest(...).exec()): the prefill with an empty
past (past_key_values.{i}.key/.value of length 0), then one token per call, each call's
present.{i}.key/.value fed back as the next call's past. A row stops at eos_token_id (the eos is
not part of the text), then is fed padding until every row stopped or max_new_tokens were made.

Parameters (config.pbtxt): onnx_model (the decoder's model name), layers, kv_heads, head_dim,
pad_id, eos_id (-1: none), max_new_tokens, max_positions.

Two parts: GreedyDecoder knows nothing of Triton (it is given a function that runs the model);
TritonPythonModel is the glue to Triton's Python backend.
"""

import json
import os

import numpy as np


class GreedyDecoder:
    def __init__(self, run, layers, kv_heads, head_dim, pad_id, eos_id, max_positions):
        self.run = run  # feeds {name: np.ndarray} -> {name: np.ndarray}
        self.layers = layers
        self.kv_heads = kv_heads
        self.head_dim = head_dim
        self.pad_id = pad_id
        self.eos_id = eos_id
        self.max_positions = max_positions

    def output_names(self):
        return ["logits"] + [f"present.{i}.{kv}" for i in range(self.layers) for kv in ("key", "value")]

    def generate(self, prompts, max_new_tokens):
        """Greedy continuations (lists of ids, eos left out) of `prompts` (lists of ids)."""
        keep = max(1, self.max_positions - max_new_tokens)
        prompts = [list(p[-keep:]) if p else [self.pad_id] for p in prompts]
        batch = len(prompts)
        width = max(len(p) for p in prompts)
        ids = np.full((batch, width), self.pad_id, dtype=np.int64)
        mask = np.zeros((batch, width), dtype=np.int64)
        for b, p in enumerate(prompts):
            ids[b, width - len(p):] = p
            mask[b, width - len(p):] = 1
        positions = np.where(mask == 1, np.cumsum(mask, axis=1) - 1, 1).astype(np.int64)
        seen = np.array([len(p) for p in prompts], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
        for i in range(self.layers):
            for kv in ("key", "value"):
                feeds[f"past_key_values.{i}.{kv}"] = np.zeros((batch, self.kv_heads, 0, self.head_dim), dtype=np.float32)
        out = [[] for _ in prompts]
        done = [False] * batch
        for step in range(max_new_tokens):
            result = self.run(feeds)
            # argmax of the last position; ties go to the lowest id (numpy's and torch's rule)
            nxt = result["logits"][:, -1, :].argmax(axis=-1)
            fed = np.array([self.pad_id if done[b] else int(nxt[b]) for b in range(batch)], dtype=np.int64)
            for b in range(batch):
                if done[b]:
                    continue
                t = int(nxt[b])
                if self.eos_id >= 0 and t == self.eos_id:
                    done[b] = True
                else:
                    out[b].append(t)
            if step == max_new_tokens - 1 or all(done):
                break
            mask = np.concatenate([mask, np.ones((batch, 1), dtype=np.int64)], axis=1)
            feeds = {"input_ids": fed[:, None], "attention_mask": mask, "position_ids": seen[:, None].copy()}
            seen = seen + 1
            for i in range(self.layers):
                for kv in ("key", "value"):
                    feeds[f"past_key_values.{i}.{kv}"] = result[f"present.{i}.{kv}"]
        return out


class TritonPythonModel:
    def initialize(self, args):
        import triton_python_backend_utils as pb_utils
        from tokenizers import Tokenizer

        self.pb_utils = pb_utils
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        here = os.path.join(args["model_repository"], args["model_version"])
        self.tokenizer = Tokenizer.from_file(os.path.join(here, "tokenizer.json"))
        # Whole prompts, unpadded: the decoder left-pads them itself (a tokenizer.json saved with
        # padding or truncation settings would otherwise pad on the right or cut them).
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.onnx_model = params["onnx_model"]
        self.max_new_tokens = int(params["max_new_tokens"])
        self.decoder = GreedyDecoder(
            self.run_model,
            layers=int(params["layers"]),
            kv_heads=int(params["kv_heads"]),
            head_dim=int(params["head_dim"]),
            pad_id=int(params["pad_id"]),
            eos_id=int(params["eos_id"]),
            max_positions=int(params["max_positions"]),
        )
        self.outputs = self.decoder.output_names()

    def run_model(self, feeds):
        pb = self.pb_utils
        request = pb.InferenceRequest(
            model_name=self.onnx_model,
            requested_output_names=self.outputs,
            inputs=[pb.Tensor(name, array) for name, array in feeds.items()],
        )
        response = request.exec()
        if response.has_error():
            raise pb.TritonModelException(response.error().message())
        return {name: pb.get_output_tensor_by_name(response, name).as_numpy() for name in self.outputs}

    def execute(self, requests):
        pb = self.pb_utils
        # Every prompt of every request in one left-padded batch.
        texts, shapes, failed = [], [], {}
        for r, request in enumerate(requests):
            tensor = pb.get_input_tensor_by_name(request, "TEXT")
            if tensor is None:
                failed[r] = "the request has no TEXT input"
                shapes.append(None)
                continue
            array = tensor.as_numpy()
            shapes.append(array.shape)
            texts.extend((r, v.decode("utf-8") if isinstance(v, bytes) else str(v)) for v in array.reshape(-1))
        generated = {}
        try:
            if texts:
                prompts = [e.ids for e in self.tokenizer.encode_batch([t for _, t in texts])]
                ids = self.decoder.generate(prompts, self.max_new_tokens)
                for k, (r, _) in enumerate(texts):
                    generated.setdefault(r, []).append(self.tokenizer.decode(ids[k]))
        except Exception as e:  # noqa: BLE001 - every request of the batch gets the error
            return [pb.InferenceResponse(output_tensors=[], error=pb.TritonError(str(e))) for _ in requests]
        responses = []
        for r, _ in enumerate(requests):
            if r in failed:
                responses.append(pb.InferenceResponse(output_tensors=[], error=pb.TritonError(failed[r])))
                continue
            data = np.array([s.encode("utf-8") for s in generated.get(r, [])], dtype=np.object_).reshape(shapes[r])
            responses.append(pb.InferenceResponse(output_tensors=[pb.Tensor("GENERATED_TEXT", data)]))
        return responses

    def finalize(self):
        pass
