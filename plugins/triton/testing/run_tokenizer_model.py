"""Runs a Triton Python-backend model.py outside Triton, as the Python backend would: initialize()
with the model config as JSON, execute() on a list of requests, finalize(). For qrun's tests.

    python3 run_tokenizer_model.py <model folder> <model config JSON file> <requests JSON file>

Requests: [{"TEXT": {"shape": [2, 1], "data": ["text", "..."]}}, ...] (a missing input name is
allowed, to test errors). Prints one JSON object: the responses, each {"error": message} or
{"outputs": {name: {"dtype", "shape", "data"}}}, and the calls a fake tokenizers module recorded.
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
        for name, t in r.items():
            data = np.array([s.encode("utf-8") for s in t["data"]], dtype=np.object_).reshape(t["shape"])
            tensors.append(pb_utils.Tensor(name, data))
        triton_requests.append(pb_utils.InferenceRequest(tensors))
    responses = model.execute(triton_requests)
    model.finalize()

    out = []
    for response in responses:
        if response.has_error():
            out.append({"error": response.error().message()})
            continue
        out.append(
            {
                "outputs": {
                    t.name(): {"dtype": str(t.as_numpy().dtype), "shape": list(t.as_numpy().shape), "data": [v.decode("utf-8") if isinstance(v, bytes) else v for v in t.as_numpy().reshape(-1).tolist()]}
                    for t in response.output_tensors()
                }
            }
        )
    import tokenizers

    print(json.dumps({"responses": out, "tokenizerCalls": getattr(tokenizers, "CALLS", None), "tokenizers": getattr(tokenizers, "__version__", "fake")}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
