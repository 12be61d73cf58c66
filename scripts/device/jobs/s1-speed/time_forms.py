# s1-speed (issue 14) on the GPU machine's Xeon, 2 cores: the int8 forms of qrun's BERT-base graph,
# made on the development machine by bench/cpu-forms.ts --graphs-only (forms.tar.xz: each .onnx with
# its tensors of 64 KiB or more as external data whose file was left out), are given back their
# weights here as seeded random values of each tensor's type (latency does not depend on them;
# scales, zero points, biases and LayerNorm parameters are small and travel as they are). Then
# onnxruntime's own quantize_dynamic (per-channel, QInt8) of the FP32 graph — the anchor — is
# compared node for node with qrun's mode: dynamic (structure: values differ, the weights being
# random), and FP32, the anchor and qrun's forms are timed in turns in one process (2 intra-op
# threads, no spinning), per shape: medians, and each ratio's median over the iterations with a
# bootstrap 95% interval.
#   taskset -c 0,1 python3 time_forms.py forms.tar.xz OUT_DIR
import json, os, statistics, sys, tarfile, time
import numpy as np
import onnx, onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic

ARCHIVE, OUT = sys.argv[1], sys.argv[2]
W = "/tmp/s1-speed"
D = os.path.join(W, "forms")
t_start = time.time()
BUDGET = float(os.environ.get("S1_BUDGET_S", "330"))  # the whole job has 7 minutes
cpu = open("/proc/cpuinfo").read()
name = next(l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("model name"))
print(f"{name}, {len(os.sched_getaffinity(0))} cores usable; AVX-512 VNNI {'avx512_vnni' in cpu}, AMX-INT8 {'amx_int8' in cpu}; onnxruntime {ort.__version__}, onnx {onnx.__version__}", flush=True)
results = {"cpu": name, "onnxruntime": ort.__version__}


def save():
    json.dump(results, open(os.path.join(OUT, "forms.json"), "w"), indent=1)


os.makedirs(W, exist_ok=True)
with tarfile.open(ARCHIVE, "r:xz") as tar:
    tar.extractall(W)
rng = np.random.default_rng(1)
fill = {
    onnx.TensorProto.FLOAT: lambda n: rng.normal(0, 0.02, n).astype(np.float32),
    onnx.TensorProto.INT8: lambda n: rng.integers(-127, 128, n, dtype=np.int8),
    onnx.TensorProto.UINT8: lambda n: rng.integers(0, 256, n, dtype=np.uint8),
    onnx.TensorProto.INT64: lambda n: np.zeros(n, np.int64),
}
for f in sorted(os.listdir(D)):
    if not f.endswith(".onnx"):
        continue
    m = onnx.load(os.path.join(D, f), load_external_data=False)
    files = {}
    for t in m.graph.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        kv = {e.key: e.value for e in t.external_data}
        path = os.path.join(D, kv["location"])
        if path not in files:
            files[path] = open(path, "wb")
        files[path].seek(int(kv.get("offset", 0)))
        files[path].write(fill[t.data_type](int(np.prod(t.dims))).tobytes())
    for h in files.values():
        h.close()
print(f"weights filled: {time.time() - t_start:.1f} s", flush=True)

anchor = True
try:
    t = time.time()
    quantize_dynamic(os.path.join(D, "fp32.onnx"), os.path.join(D, "ort-dynamic.onnx"), per_channel=True, weight_type=QuantType.QInt8)
    print(f"quantize_dynamic: {time.time() - t:.1f} s", flush=True)

    # Node for node: qrun's mode: dynamic against onnxruntime's quantize_dynamic.
    a = onnx.load(os.path.join(D, "dynamic.onnx"), load_external_data=False)
    b = onnx.load(os.path.join(D, "ort-dynamic.onnx"), load_external_data=False)
    key = lambda n: (n.op_type, n.name, tuple(n.input), tuple(n.output), tuple(sorted((x.name, onnx.helper.get_attribute_value(x) if x.type != onnx.AttributeProto.TENSOR else "tensor") for x in n.attribute)))
    na, nb = [key(n) for n in a.graph.node], [key(n) for n in b.graph.node]
    diff = [(i, x, y) for i, (x, y) in enumerate(zip(na, nb)) if x != y]
    ia = {t.name: t for t in a.graph.initializer}
    ib = {t.name: t for t in b.graph.initializer}
    init_diff = []
    for k in sorted(set(ia) | set(ib)):
        if k not in ia or k not in ib:
            init_diff.append(f"{k}: only in {'qrun' if k in ia else 'onnxruntime'}")
        elif ia[k].data_type != ib[k].data_type or list(ia[k].dims) != list(ib[k].dims):
            init_diff.append(f"{k}: qrun type {ia[k].data_type} {list(ia[k].dims)} vs onnxruntime type {ib[k].data_type} {list(ib[k].dims)}")
    same = len(na) == len(nb) and not diff
    print(f"same nodes regardless of order: {sorted(map(str, na)) == sorted(map(str, nb))}", flush=True)
    print(f"node for node (op, name, inputs, outputs, attributes): qrun {len(na)} nodes, onnxruntime {len(nb)} nodes; {'identical' if same else f'{len(diff)} differ'}; initializers (name, type, shape; values differ: random weights): {len(ia)} vs {len(ib)}, {len(init_diff)} differ", flush=True)
    for i, x, y in diff[:8]:
        print(f"  node {i}: qrun {x}\n           ort  {y}", flush=True)
    for line in init_diff[:12]:
        print(f"  {line}", flush=True)
    results["compare"] = {"nodes": [len(na), len(nb)], "nodeDiffs": len(diff), "firstNodeDiffs": [[str(x), str(y)] for _, x, y in diff[:20]], "initializerDiffs": init_diff[:50], "opsQrun": sorted(set(n.op_type for n in a.graph.node)), "opsOrt": sorted(set(n.op_type for n in b.graph.node))}
    save()
    # The one difference left besides node order: quantize_dynamic saves the shapes its shape
    # inference found (value_info), which onnxruntime's optimizer uses (e.g. to fuse
    # SkipLayerNormalization). qrun's graph with that value_info shows what it is worth.
    a.graph.ClearField("value_info")
    a.graph.value_info.extend(b.graph.value_info)
    onnx.save(a, os.path.join(D, "dynamic-vi.onnx"))
    print(f"value_info: qrun {len([1 for _ in onnx.load(os.path.join(D, 'dynamic.onnx'), load_external_data=False).graph.value_info])}, quantize_dynamic {len(b.graph.value_info)}", flush=True)
    del a, b, ia, ib
except Exception as e:  # the timings below still run, against qrun's own dynamic form
    anchor = False
    print(f"quantize_dynamic or the comparison failed: {e!r}", flush=True)
    results["compareError"] = repr(e)
    save()

FORMS = {
    "fp32": "FP32",
    "ort-dynamic": "onnxruntime quantize_dynamic (per-channel, QInt8) — the anchor",
    "dynamic": "qrun mode: dynamic",
    "tensorrt": "qrun static INT8, target: tensorrt (Q/DQ)",
    "dynamic-vi": "qrun mode: dynamic + quantize_dynamic's value_info",
    "cpu": "qrun static INT8, target: cpu (attention as QAttention)",
    "cpu-qkv": "qrun static INT8, target: cpu, attention not fused",
    "cpu-unfused": "qrun static INT8, target: cpu, nothing fused",
}
if not anchor:
    del FORMS["ort-dynamic"]
    del FORMS["dynamic-vi"]
ANCHOR = "ort-dynamic" if anchor else "dynamic"


def session(f, profile=None, optimized=None):
    o = ort.SessionOptions()
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    o.intra_op_num_threads = 2
    o.inter_op_num_threads = 1
    o.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if optimized:
        o.optimized_model_filepath = optimized
    if profile:
        o.enable_profiling = True
        o.profile_file_prefix = profile
    return ort.InferenceSession(os.path.join(D, f + ".onnx"), o, providers=["CPUExecutionProvider"])


ops = {}
for f in FORMS:
    if f == "fp32":
        continue
    p = os.path.join(D, f + ".opt.onnx")
    try:
        session(f, optimized=p)
        g = onnx.load(p, load_external_data=False)
    except Exception as e:
        print(f"optimized graph {f}: {e!r}", flush=True)
        continue
    c = {}
    for n in g.graph.node:
        c[n.op_type] = c.get(n.op_type, 0) + 1
    ops[f] = c
    print(f"optimized graph {f}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda x: -x[1])), flush=True)
results["optimizedOps"] = ops
save()

sessions = {f: session(f) for f in FORMS}


def feeds(b, s):
    ids = (1000 + (np.arange(b * s) * 7919) % 20000).reshape(b, s).astype(np.int64)
    return {"input_ids": ids, "attention_mask": np.ones((b, s), np.int64), "token_type_ids": np.zeros((b, s), np.int64)}


rng = np.random.default_rng(0)


def ci(ratios):
    """Median of per-iteration ratios and a bootstrap 95% interval of that median."""
    r = np.asarray(ratios)
    boots = np.median(rng.choice(r, size=(2000, r.size), replace=True), axis=1)
    return float(np.median(r)), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


results["shapes"] = {}
plan = [((1, 32), 50), ((1, 128), 25), ((8, 128), 10)]
for (bs, sl), iters in plan:
    f = feeds(bs, sl)
    for _ in range(3):
        for s in sessions.values():
            s.run(None, f)
    times = {k: [] for k in sessions}
    order = list(sessions)
    t_shape = time.time()
    for i in range(iters):
        for k in order if i % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            sessions[k].run(None, f)
            times[k].append((time.perf_counter() - t0) * 1000)
        # Stay inside the job's time: at most ~1/3 of what is left per shape.
        if time.time() - t_shape > (BUDGET - (time.time() - t_start)) / 3 and i >= 7:
            break
    n = len(times["fp32"])
    row = {}
    for k in sessions:
        vs_fp32 = ci([x / y for x, y in zip(times[k], times["fp32"])])
        vs_ort = ci([x / y for x, y in zip(times[k], times[ANCHOR])])
        row[k] = {"medianMs": statistics.median(times[k]), "vsFp32": vs_fp32, "vsOrtDynamic": vs_ort, "times": times[k]}
    results["shapes"][f"{bs}x{sl}"] = row
    save()
    print(f"\n{bs}x{sl} ({n} interleaved iterations, 2 threads): median ms; ratio = median of per-iteration ratios [bootstrap 95% interval]", flush=True)
    for k, label in FORMS.items():
        r = row[k]
        a, b = r["vsFp32"], r["vsOrtDynamic"]
        print(f"  {label:62s} {r['medianMs']:8.1f} ms   /FP32 {a[0]:.3f} [{a[1]:.3f}, {a[2]:.3f}]   /{ANCHOR} {b[0]:.3f} [{b[1]:.3f}, {b[2]:.3f}]", flush=True)

print("\n| | 1×32 | 1×128 | 8×128 |\n| --- | --- | --- | --- |")
for k, label in FORMS.items():
    if k == "fp32":
        continue
    cells = []
    for shape in ("1x32", "1x128", "8x128"):
        r = results["shapes"].get(shape, {}).get(k)
        cells.append(f"{r['vsFp32'][0]:.3f}" if r else "—")
    print(f"| {label} / FP32 | " + " | ".join(cells) + " |")
for k in [k for k in ("dynamic", "dynamic-vi", "tensorrt", "cpu", "cpu-qkv", "cpu-unfused") if k in FORMS]:
    cells = []
    for shape in ("1x32", "1x128", "8x128"):
        r = results["shapes"].get(shape, {}).get(k)
        cells.append(f"{r['vsOrtDynamic'][0]:.3f} [{r['vsOrtDynamic'][1]:.3f}, {r['vsOrtDynamic'][2]:.3f}]" if r else "—")
    print(f"| {FORMS[k]} / {ANCHOR} | " + " | ".join(cells) + " |")

if time.time() - t_start < BUDGET - 30:
    prof = {}
    for k in (ANCHOR, "dynamic", "cpu", "cpu-qkv"):
        s = session(k, profile=os.path.join(D, "profile-" + k))
        f = feeds(1, 128)
        for _ in range(7):
            s.run(None, f)
        by = {}
        for e in json.load(open(s.end_profiling())):
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                by[e["args"]["op_name"]] = by.get(e["args"]["op_name"], 0) + e["dur"] / 1000 / 7
        prof[k] = by
        print(f"kernels 1x128 {k}: {sum(by.values()):.1f} ms/run: " + ", ".join(f"{o} {v:.1f}" for o, v in sorted(by.items(), key=lambda x: -x[1])[:8]), flush=True)
    results["profile1x128"] = prof
    save()
