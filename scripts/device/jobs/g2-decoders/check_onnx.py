#!/usr/bin/env python3
"""The native decoder graphs (onnx/<name>.onnx, written by export-inputs.mts from
tests/fixtures/decoders) through tools that are not onnxruntime-node: the onnx checker (full check,
strict shape and type inference with data propagation), the ONNX reference evaluator (the spec's own
semantics, independent of onnxruntime) and onnxruntime's Python API with every optimization level,
each compared with the PyTorch logits of <name>.reference.json (prefill + greedy decode steps with
the cache, alone and as a left-padded batch).

Usage: python3 check_onnx.py DIR_WITH_ONNX OUT_JSON
"""
import json
import os
import sys
import time

import numpy as np

T0 = time.time()


def log(*a):
    print("[%6.1fs] check_onnx:" % (time.time() - T0), *a, flush=True)


def feeds_for(step, cache, layers, kv_heads, head_dim):
    ids = np.array(step["input_ids"], dtype=np.int64)
    f = {"input_ids": ids, "attention_mask": np.array(step["attention_mask"], dtype=np.int64),
         "position_ids": np.array(step["position_ids"], dtype=np.int64)}
    for i in range(layers):
        for kind in ("key", "value"):
            name = "past_key_values.%d.%s" % (i, kind)
            f[name] = cache.get(name, np.zeros((ids.shape[0], kv_heads, 0, head_dim), dtype=np.float32))
    return f


def run_reference(run, case, layers, kv_heads, head_dim, steps=None):
    """max |delta| against the reference and argmax mismatches over prefill + decode steps."""
    calls = [dict(input_ids=case["input_ids"], attention_mask=case["attention_mask"], position_ids=case["position_ids"],
                  logits=case["prefill_logits"], argmax=case["prefill_argmax"], last=2)]
    calls += [dict(d, logits=[[row] for row in d["logits"]], last=1) for d in case["decode"]]
    if steps is not None:
        calls = calls[:steps]
    cache, worst, mismatches = {}, 0.0, 0
    for c in calls:
        out = run(feeds_for(c, cache, layers, kv_heads, head_dim))
        logits = out["logits"]
        for i in range(layers):
            for kind in ("key", "value"):
                cache["past_key_values.%d.%s" % (i, kind)] = out["present.%d.%s" % (i, kind)]
        ref = np.array(c["logits"], dtype=np.float32)  # [batch, last, vocab]
        got = logits[:, -c["last"]:, :]
        worst = max(worst, float(np.abs(got - ref).max()))
        mismatches += int((got[:, -1].argmax(-1) != np.array(c["argmax"])).sum())
    return worst, mismatches, len(calls)


def main():
    import onnx
    import onnxruntime as ort
    from onnx import shape_inference
    from onnx.reference import ReferenceEvaluator
    src, out_file = sys.argv[1], sys.argv[2]
    results = {"onnx": onnx.__version__, "onnxruntime": ort.__version__}
    failed = 0
    for fn in sorted(os.listdir(src)):
        if not fn.endswith(".onnx"):
            continue
        name = fn[:-5]
        r = results[name] = {}
        try:
            path = os.path.join(src, fn)
            ref = json.load(open(os.path.join(src, name + ".reference.json")))
            m = onnx.load(path)
            onnx.checker.check_model(m, full_check=True)
            r["checker"] = "ok (full_check)"
            inferred = shape_inference.infer_shapes(m, check_type=True, strict_mode=True, data_prop=True)
            r["inferred_values"] = len(inferred.graph.value_info)
            r["opset"] = [(o.domain, o.version) for o in m.opset_import]
            r["ops"] = sorted({n.op_type for n in m.graph.node})
            past = [i for i in m.graph.input if i.name.startswith("past_key_values.")]
            dims = past[0].type.tensor_type.shape.dim
            layers, kv_heads, head_dim = len(past) // 2, dims[1].dim_value, dims[3].dim_value
            for level_name, level in (("disabled", ort.GraphOptimizationLevel.ORT_DISABLE_ALL),
                                      ("all", ort.GraphOptimizationLevel.ORT_ENABLE_ALL)):
                so = ort.SessionOptions()
                so.graph_optimization_level = level
                so.intra_op_num_threads = 2
                sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
                names = [o.name for o in sess.get_outputs()]
                run = lambda f, s=sess, n=names: dict(zip(n, s.run(n, f)))
                for label, case in (("alone", ref), ("batch", ref["batch"])):
                    worst, mism, calls = run_reference(run, case, layers, kv_heads, head_dim)
                    r["ort_%s_%s" % (level_name, label)] = {"max_abs_diff": worst, "argmax_mismatches": mism, "calls": calls}
                    failed += mism > 0 or worst > 1e-3
            ev = ReferenceEvaluator(m)
            names = [o.name for o in m.graph.output]
            run = lambda f, e=ev, n=names: dict(zip(n, e.run(None, f)))
            for label, case in (("alone", ref), ("batch", ref["batch"])):
                worst, mism, calls = run_reference(run, case, layers, kv_heads, head_dim, steps=3)
                r["reference_evaluator_%s" % label] = {"max_abs_diff": worst, "argmax_mismatches": mism, "calls": calls}
                failed += mism > 0 or worst > 1e-3
            log(name, json.dumps(r))
        except Exception:
            import traceback
            failed += 1
            r["error"] = traceback.format_exc()
            log(name, "FAILED\n" + r["error"])
    with open(out_file, "w") as f:
        json.dump(results, f, indent=1)
    log("done, %d failures" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
