"""Runs the token-classification entities model.py outside Triton, as the Python backend would:
initialize() with the model config as JSON, execute() on a list of requests, finalize().

    python3 run_entities_model.py <model folder> <model config JSON file> <requests JSON file>

Requests: [{"TEXT": {"shape": [2, 1], "data": ["text", ...]}, "logits": {"shape": [2, 5, 13], "data": [...]}}]
(an input may be left out, to test errors). Prints one JSON object: the responses, each
{"error": message} or {"outputs": {name: {"shape", "data"}}}, and the calls the fake tokenizers
module recorded.
"""

import importlib.util
import json
import sys

import numpy as np
import triton_python_backend_utils as pb_utils


def main(folder, config_file, requests_file):
    spec = importlib.util.spec_from_file_location("model", f"{folder}/1/model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with open(config_file, encoding="utf-8") as f:
        config = f.read()
    with open(requests_file, encoding="utf-8") as f:
        requests = json.load(f)
    model = module.TritonPythonModel()
    model.initialize({"model_config": config, "model_repository": folder, "model_version": "1", "model_name": json.loads(config)["name"]})
    triton_requests = []
    for r in requests:
        tensors = []
        if "TEXT" in r:
            tensors.append(pb_utils.Tensor("TEXT", np.array([s.encode("utf-8") for s in r["TEXT"]["data"]], dtype=np.object_).reshape(r["TEXT"]["shape"])))
        if "logits" in r:
            tensors.append(pb_utils.Tensor("logits", np.array(r["logits"]["data"], dtype=np.float32).reshape(r["logits"]["shape"])))
        triton_requests.append(pb_utils.InferenceRequest(tensors))
    responses = model.execute(triton_requests)
    model.finalize()
    out = []
    for response in responses:
        if response.has_error():
            out.append({"error": response.error().message()})
            continue
        out.append({"outputs": {t.name(): {"shape": list(t.as_numpy().shape), "data": [x.decode("utf-8") for x in t.as_numpy().reshape(-1)]} for t in response.output_tensors()}})
    import tokenizers

    print(json.dumps({"responses": out, "tokenizerCalls": getattr(tokenizers, "CALLS", None)}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
