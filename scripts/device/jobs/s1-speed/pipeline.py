# s1-speed part 1: qrun's start-up and the BERT-base quantize pipeline, on the CPUs this process may
# use (run.sh pins it to 2 cores). Prints medians with intervals; writes W/fp32.path and W/stats.path
# (the FP32 model and calibration ranges the pipeline made) for the forms.
import glob, json, os, random, shutil, statistics, subprocess, sys, time

W, OUT = sys.argv[1], sys.argv[2]
REPO = os.getcwd()
QRUN = [shutil.which("node") or "node", os.path.join(REPO, "bin/qrun.js")]


def run(cmd, env=None):
    """Wall seconds and peak RSS (MiB) of one child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        print(out.decode(errors="replace")[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024, out.decode(errors="replace")


def interval(xs):
    """Median and the interval of the middle 80% (10th-90th percentile) of runs."""
    s = sorted(xs)
    q = lambda p: s[min(len(s) - 1, max(0, round(p * (len(s) - 1))))]
    return statistics.median(s), q(0.1), q(0.9)


def fmt(xs, unit="s", scale=1.0):
    m, lo, hi = interval([x * scale for x in xs])
    return f"{m:.3f} {unit} (10-90%: {lo:.3f}-{hi:.3f}, n={len(xs)})"


print(f"cores usable: {len(os.sched_getaffinity(0))}", flush=True)
validate = QRUN + ["validate", "recipes/bert-int8.yaml"]
first, _, _ = run(validate)
print(f"start-up, first run after a source change (builds the bundle): {first:.2f} s", flush=True)
times = {"bundle": [], "tsx": []}
for i in range(10):
    for k in (["bundle", "tsx"] if i % 2 == 0 else ["tsx", "bundle"]):
        times[k].append(run(validate, {"QRUN_BUILD_AHEAD": "1" if k == "bundle" else "0"})[0])
ratios = [b / t for b, t in zip(times["bundle"], times["tsx"])]
print(f"start-up `qrun validate recipes/bert-int8.yaml` (wall, whole process): bundle {fmt(times['bundle'])}; tsx {fmt(times['tsx'])}; bundle/tsx {fmt(ratios, '')}", flush=True)
version = [run(QRUN + ["--version"])[0] for _ in range(10)]
print(f"start-up `qrun --version`: {fmt(version)}", flush=True)

model = os.path.join(W, "bert-base")
shutil.copytree("models/bert-langid", model, ignore=shutil.ignore_patterns("onnx", "*.safetensors"))
shutil.copy("bench/bert-base.config.json", os.path.join(model, "config.json"))
recipe = os.path.join(W, "bert-base.yaml")
with open(recipe, "w") as f:
    f.write(f"""name: bert-base-random
model: {model}
data:
  calibration: {REPO}/data/langid/calib.jsonl
steps:
  - {{ id: load, uses: hf.load, with: {{ maxLength: 128 }} }}
  - {{ id: export, uses: onnx.export, with: {{ weights: random, seed: 1 }} }}
  - {{ id: qdq, uses: qdq.insert }}
  - {{ id: calibrate, uses: calibrate, with: {{ method: percentile, samples: 64 }} }}
  - {{ id: save, uses: onnx.save }}
""")
walls, peaks = [], []
for i in range(2):
    if i == 1 and walls[0] > 40:
        break  # one run is all the job's 7 minutes allow
    cache = os.path.join(W, f"cache-{i}")
    wall, peak, out = run(QRUN + [recipe, "--cache", cache, "--plain"])
    runs = sorted(d for d in os.listdir(os.path.join(cache, "runs")) if not d.endswith("-matrix"))
    report = json.load(open(os.path.join(cache, "runs", runs[-1], "report.json")))
    steps = ", ".join(f"{s['id']} {s['durationMs'] / 1000:.2f} s" for s in report["steps"])
    print(f"pipeline run {i + 1}: {wall:.1f} s wall, peak RSS {peak:.0f} MiB (report: {report['run'].get('peakRssMiB')} MiB); {steps}", flush=True)
    walls.append(wall)
    peaks.append(peak)
    by = {s["id"]: s for s in report["steps"]}
    with open(os.path.join(W, "fp32.path"), "w") as f:
        f.write(os.path.join(cache, "cache", by["export"]["outputs"]["model"]["path"]))
    with open(os.path.join(W, "stats.path"), "w") as f:
        f.write(os.path.join(cache, "cache", by["calibrate"]["outputs"]["stats"]["path"]))
json.dump({"startup": times, "version": version, "first": first, "pipeline": {"wall": walls, "peakMiB": peaks}}, open(os.path.join(OUT, "pipeline.json"), "w"))
