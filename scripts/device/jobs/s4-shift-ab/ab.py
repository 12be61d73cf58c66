# Device job s4-shift-ab: what calibrate 1.4's activation shift costs onnxruntime's CPU on the
# TensorRT-form graph (the Subs, per-channel Muls and the P·V ReduceSum correction are kernels of
# their own there; TensorRT fuses the pointwise ones). bert-langid's INT8 graphs from
# recipes/bert-int8.yaml with shift: false (noshift.onnx) and with the default (shift.onnx), and its
# FP32 graph, timed interleaved pair by pair in one process (2 threads, cores 0-1), as the bench step
# does: per shape, the median of the per-pair ratios and a block-bootstrap 95% interval.
import json, random, sys, time
import numpy as np
import onnxruntime as ort

out = sys.argv[1]
here = sys.argv[2]
fp32 = sys.argv[3]
opts = ort.SessionOptions()
opts.intra_op_num_threads = 2
opts.inter_op_num_threads = 1
opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
sessions = {name: ort.InferenceSession(path, opts, providers=['CPUExecutionProvider']) for name, path in [('fp32', fp32), ('noshift', f'{here}/noshift.onnx'), ('shift', f'{here}/shift.onnx')]}
inputs = [i.name for i in sessions['fp32'].get_inputs()]
rng = np.random.default_rng(0)
results = {}
for batch, seq in [(1, 32), (1, 128), (8, 128)]:
    feeds = {}
    for name in inputs:
        if name == 'input_ids':
            feeds[name] = rng.integers(100, 1000, size=(batch, seq), dtype=np.int64)
        elif name == 'attention_mask':
            feeds[name] = np.ones((batch, seq), dtype=np.int64)
        else:
            feeds[name] = np.zeros((batch, seq), dtype=np.int64)
    for _ in range(30):
        for s in sessions.values():
            s.run(None, feeds)
    iters, blocks = 400, 10
    times = {k: [] for k in sessions}
    order = list(sessions)
    for i in range(iters):
        random.Random(i).shuffle(order)
        for k in order:
            t0 = time.perf_counter()
            sessions[k].run(None, feeds)
            times[k].append(time.perf_counter() - t0)
    def ratio(a, b):
        r = np.array(times[a]) / np.array(times[b])
        per = np.array_split(r, blocks)
        boot = []
        g = np.random.default_rng(1)
        for _ in range(2000):
            pick = g.integers(0, blocks, size=blocks)
            boot.append(np.median(np.concatenate([per[p] for p in pick])))
        return {'median': float(np.median(r)), 'low': float(np.percentile(boot, 2.5)), 'high': float(np.percentile(boot, 97.5))}
    row = {'p50_ms': {k: 1000 * float(np.median(v)) for k, v in times.items()}, 'shift/noshift': ratio('shift', 'noshift'), 'noshift/fp32': ratio('noshift', 'fp32'), 'shift/fp32': ratio('shift', 'fp32')}
    results[f'{batch}x{seq}'] = row
    print(f'{batch}x{seq}', json.dumps(row), flush=True)
open(f'{out}/ab.json', 'w').write(json.dumps(results, indent=1))
