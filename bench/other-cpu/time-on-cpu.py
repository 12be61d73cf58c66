# Times the models strip-weights.ts wrote (see there) with Python onnxruntime on this machine's CPU:
# fills each model's external data with random values of each tensor's type, then
#  1. FP32 vs qrun's INT8 in turns, onnxruntime's default threading on 2 threads (as the bench step);
#  2. every model in turns, no thread spinning (several sessions take turns);
#  3. kernel times of FP32 and INT8 at 1x128 from onnxruntime's profiler.
# Run it on 2 cores to compare with a 2-core machine: taskset -c 0,1 python3 time-on-cpu.py
import json, os, statistics, subprocess, time
import numpy as np
import onnx, onnxruntime as ort

here = os.path.dirname(os.path.abspath(__file__))
names = dict(line.rstrip("\n").split("\t") for line in open(os.path.join(here, "models.tsv")))
rng = np.random.default_rng(1)
fill = {
    onnx.TensorProto.FLOAT: lambda n: rng.normal(0, 0.02, n).astype(np.float32),
    onnx.TensorProto.INT8: lambda n: rng.integers(-127, 128, n, dtype=np.int8),
    onnx.TensorProto.UINT8: lambda n: rng.integers(0, 256, n, dtype=np.uint8),
}
for d in names:
    m = onnx.load(os.path.join(here, d, "model.onnx"), load_external_data=False)
    with open(os.path.join(here, d, "model.onnx.data"), "wb") as f:
        for t in m.graph.initializer:
            if t.data_location == onnx.TensorProto.EXTERNAL:
                kv = {e.key: e.value for e in t.external_data}
                f.seek(int(kv.get("offset", 0)))
                f.write(fill[t.data_type](int(np.prod(t.dims))).tobytes())
cpu = open("/proc/cpuinfo").read()
model_name = subprocess.run("lscpu | sed -n 's/^Model name: *//p'", shell=True, capture_output=True, text=True).stdout.strip()
print(f"{model_name}, {len(os.sched_getaffinity(0))} cores usable; AVX-512 VNNI {'avx512_vnni' in cpu}, AVX-VNNI {'avx_vnni' in cpu}, AMX-INT8 {'amx_int8' in cpu}, AVX2 {'avx2' in cpu}; onnxruntime {ort.__version__}", flush=True)


def session(d, spin=True, profile=None):
    o = ort.SessionOptions()
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    o.intra_op_num_threads = 2
    o.inter_op_num_threads = 1
    if not spin:
        o.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile:
        o.enable_profiling = True
        o.profile_file_prefix = os.path.join(here, profile)
    return ort.InferenceSession(os.path.join(here, d, "model.onnx"), o, providers=["CPUExecutionProvider"])


def feeds(b, s):
    ids = (1000 + (np.arange(b * s) * 7919) % 20000).reshape(b, s).astype(np.int64)
    return {"input_ids": ids, "attention_mask": np.ones((b, s), np.int64), "token_type_ids": np.zeros((b, s), np.int64)}


def race(sessions, b, s, iters):
    f = feeds(b, s)
    for _ in range(3):
        for x in sessions.values():
            x.run(None, f)
    t = {d: [] for d in sessions}
    order = list(sessions)
    for i in range(iters):
        for d in order if i % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            sessions[d].run(None, f)
            t[d].append((time.perf_counter() - t0) * 1000)
    return {d: statistics.median(v) for d, v in t.items()}


pair = {d: session(d) for d in ("fp32", "int8")}
for (b, s), n in (((1, 128), 30), ((8, 128), 20)):
    m = race(pair, b, s, n)
    print(f"1. {b}x{s}: FP32 {m['fp32']:.1f} ms, INT8 {m['int8']:.1f} ms, INT8/FP32 {m['int8'] / m['fp32']:.3f}", flush=True)
del pair
every = {d: session(d, spin=False) for d in names}
for (b, s), n in (((1, 128), 20), ((8, 128), 10)):
    m = race(every, b, s, n)
    print(f"2. {b}x{s}: " + " | ".join(f"{names[d]} {m[d] / m['fp32']:.3f}" for d in names if d != "fp32"), flush=True)
del every
for d in ("fp32", "int8"):
    p = session(d, profile=f"profile-{d}")
    f = feeds(1, 128)
    for _ in range(7):
        p.run(None, f)
    by = {}
    for e in json.load(open(p.end_profiling())):
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            by[e["args"]["op_name"]] = by.get(e["args"]["op_name"], 0) + e["dur"] / 1000 / 7
    print(f"3. {names[d]} 1x128 kernels {sum(by.values()):.1f} ms/run: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(by.items(), key=lambda x: -x[1])[:6]), flush=True)
