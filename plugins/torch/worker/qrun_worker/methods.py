"""The worker's methods, one per torch.* step. Each reads its input torch-state (and data sets) from
disk and writes a new folder; nothing lives on between calls. torch is imported inside the
methods, so a missing install is answered through the protocol like any other error."""
from __future__ import annotations

import os
import random
import time
from typing import Any, Callable

from . import WORKER_VERSION
from .protocol import WorkerError
from .state import HF_DIR, PATCHED_DIR, QUANT_FILE, copy_tree, read_state, save_f32_tensors, write_state

Emit = Callable[..., None]


def _versions() -> dict[str, str]:
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "worker": WORKER_VERSION}


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    # TF32 would make GPU results depend on the matmul path; QAT on a small model does not need it.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def _require_state(state: dict[str, Any], what: str, step: str) -> None:
    if not state.get(what):
        hints = {"patch": "torch.patch", "calibration": "torch.calibrate"}
        raise WorkerError("TORCH_STATE", f"{step} needs a model that went through {hints[what]}", f"put a {hints[what]} step before {step} in the recipe")


# --- torch.load ------------------------------------------------------------------------------------


def load(p: dict[str, Any], emit: Emit) -> dict[str, Any]:
    import torch
    import transformers

    from .model_io import from_pretrained

    model_dir, out = p["modelDir"], p["outDir"]
    emit("reading config.json")
    config = transformers.AutoConfig.from_pretrained(model_dir)
    arch = p.get("architecture") or (config.architectures or [None])[0]
    cls = getattr(transformers, arch, None) if arch else None
    if cls is None:
        raise WorkerError(
            "MODEL_INVALID",
            f"{model_dir}: config.json names architecture {arch!r}, which transformers {transformers.__version__} does not have",
            "set `architecture:` on the torch.load step (e.g. BertForSequenceClassification)",
        )
    emit(f"loading {cls.__name__}")
    model = from_pretrained(cls, model_dir)
    hf = os.path.join(out, HF_DIR)
    model.save_pretrained(hf)
    modeling = type(model).__module__
    state = {
        "format": 1,
        "architecture": type(model).__name__,
        "modelingModule": modeling,
        "modelType": config.model_type,
        "steps": ["torch.load"],
    }
    write_state(out, state)
    n_params = sum(t.numel() for t in model.parameters())
    with torch.no_grad():
        ids = torch.tensor([[1, 2, 3, 4]])
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    return {
        "architecture": state["architecture"],
        "modelingModule": modeling,
        "parameters": n_params,
        "outputShape": list(logits.shape),
        **_versions(),
    }


# --- torch.patch -----------------------------------------------------------------------------------


def patch(p: dict[str, Any], emit: Emit) -> dict[str, Any]:
    from .model_io import build_model
    from .quant import quantizers

    state_dir, out = p["stateDir"], p["outDir"]
    state = read_state(state_dir)
    if state.get("patch"):
        raise WorkerError("TORCH_STATE", "the model is already patched", "use one torch.patch step")
    rules, exclude = list(p["rules"]), list(p.get("exclude", []))
    state["patch"] = {"rules": rules, "exclude": exclude}
    emit(f"patching {state['modelingModule']}: {', '.join(rules)}")
    model, pm = build_model(state_dir, state, load_amax=False)
    assert pm is not None
    names = list(quantizers(model))
    excluded = sorted(model._qrun_excluded)  # noqa: SLF001
    linear = [n for n in names if n.endswith(("input_quantizer", "weight_quantizer"))]
    matmul = [n for n in names if n not in linear]
    outcomes = {o.name: o.to_json() for o in pm.outcomes}
    for name, o in outcomes.items():
        emit(f"{name}: {'applied: ' + o['detail'] if o['applied'] else 'not applied: ' + o['reason']}", level="info")
    if "quantize-matmul" in rules and not matmul:
        o = outcomes["quantize-matmul"]
        why = "rewrote matmuls in the source, but none ran in a forward pass" if o["applied"] else f"did not apply ({o['reason']})"
        raise WorkerError(
            "TORCH_PATCH",
            f"quantize-matmul {why}: the attention matmuls of {state['modelingModule']} are not quantized",
            "the model may compute attention in another module (SDPA, flash, a shared attention function); drop quantize-matmul to quantize the Linear layers only",
        )
    if not any(n not in excluded for n in names) and any(r in rules for r in ("quantize-linear", "quantize-matmul")):
        raise WorkerError("TORCH_PATCH", "no quantizer is left enabled after the exclusions", "narrow `exclude:`")
    state["patch"].update(
        {
            "outcomes": outcomes,
            "sourceSha256": pm.source_sha256,
            "quantizers": names,
            "excluded": excluded,
        }
    )
    state["steps"].append("torch.patch")
    copy_tree(state_dir, out, HF_DIR)
    os.makedirs(os.path.join(out, PATCHED_DIR), exist_ok=True)
    with open(os.path.join(out, PATCHED_DIR, state["modelingModule"].rsplit(".", 1)[-1] + ".py"), "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# {state['modelingModule']} after the AST rules {', '.join(rules)} (qrun torch.patch; for reading only)\n")
        f.write(pm.patched_source + "\n")
    write_state(out, state)
    return {
        "rules": {k: ("applied: " + v["detail"]) if v["applied"] else ("not applied: " + v["reason"]) for k, v in outcomes.items()},
        "quantizers": len(names),
        "linearQuantizers": len(linear),
        "matmulQuantizers": len(matmul),
        "excluded": len(excluded),
        "restored": True,
        **_versions(),
    }


# --- torch.calibrate -------------------------------------------------------------------------------


class _AbsMax:
    def __init__(self) -> None:
        self.value = None

    def collect(self, x: Any) -> None:
        m = x.abs().amax().float()
        self.value = m if self.value is None else self.value.maximum(m)


class _AbsHistogram:
    def __init__(self, absmax: float, bins: int, device: str) -> None:
        import torch

        self.absmax = absmax
        self.bins = bins
        self.counts = torch.zeros(bins, dtype=torch.float64, device=device)

    def collect(self, x: Any) -> None:
        import torch

        if self.absmax > 0:
            self.counts += torch.histc(x.abs().float(), bins=self.bins, min=0.0, max=self.absmax).double()


def _logits(model: Any, samples: list[dict], pad_id: int, device: str, batch_size: int) -> Any:
    import torch

    from .data import batches_by_length, encoder_inputs

    out: list[Any] = [None] * len(samples)
    with torch.no_grad():
        for idx in batches_by_length([len(s["ids"]) for s in samples], batch_size):
            logits = model(**encoder_inputs([samples[i]["ids"] for i in idx], pad_id, device)).logits.float().cpu()
            for k, i in enumerate(idx):
                out[i] = logits[k]
    return torch.stack(out)


def _agreement(reference: Any, candidate: Any, labels: list[int | None]) -> dict[str, Any]:
    a = reference.argmax(-1)
    b = candidate.argmax(-1)
    out: dict[str, Any] = {"agreement": float((a == b).float().mean())}
    known = [(i, l) for i, l in enumerate(labels) if l is not None]
    if known:
        idx = [i for i, _ in known]
        want = [l for _, l in known]
        out["fp32Accuracy"] = float(sum(int(a[i]) == l for i, l in zip(idx, want)) / len(idx))
        out["int8Accuracy"] = float(sum(int(b[i]) == l for i, l in zip(idx, want)) / len(idx))
    out["maxAbsError"] = float((reference - candidate).abs().max())
    return out


def _labels(p: dict[str, Any], name: str, count: int) -> list[int | None]:
    """Class indices of the first `count` samples of data set `name`, as the step mapped them with
    qrun's one label mapping (src/data/labels.ts: names, indices, errors for unknown labels) and
    passed in `labels`; no labels where it passed none."""
    given = (p.get("labels") or {}).get(name)
    return list(given[:count]) if given is not None else [None] * count


def _quant_tensors(model: Any) -> dict[str, Any]:
    """amax of every enabled quantizer: activations as calibrated, weights from the weights."""
    from .quant import quantizers

    out = {}
    excluded = getattr(model, "_qrun_excluded", set())
    modules = dict(model.named_modules())
    for name, q in quantizers(model).items():
        if name in excluded or q.mode == "off":
            continue
        if q.per_channel:
            owner = modules[name.rsplit(".", 1)[0]]
            out[name] = q.weight_amax(owner.weight).cpu().numpy()
        elif q.has_amax:
            out[name] = q.amax.cpu().numpy()
    return out


def calibrate(p: dict[str, Any], emit: Emit) -> dict[str, Any]:
    import numpy as np
    import torch

    from .calibrators import compute_amax
    from .data import batches_by_length, encoder_inputs, read_dataset
    from .model_io import build_model, resolve_device
    from .quant import quantizers, set_mode

    state_dir, out = p["stateDir"], p["outDir"]
    state = read_state(state_dir)
    _require_state(state, "patch", "torch.calibrate")
    device = resolve_device(p.get("device", "auto"))
    _seed_everything(0)
    dataset = read_dataset(p["datasetsDir"], p["data"])
    samples = dataset["samples"][: p["samples"]] if p.get("samples") else dataset["samples"]
    model, _ = build_model(state_dir, state, load_amax=False)
    model.to(device)
    excluded = model._qrun_excluded  # noqa: SLF001
    acts = {n: q for n, q in quantizers(model).items() if not q.per_channel and n not in excluded}
    batches = batches_by_length([len(s["ids"]) for s in samples], p["batchSize"])
    method = p["method"]

    def run_pass(label: str) -> None:
        set_mode(model, "off")
        for q in acts.values():
            q.mode = "calib"
        with torch.no_grad():
            for b, idx in enumerate(batches):
                model(**encoder_inputs([samples[i]["ids"] for i in idx], dataset["padId"], device))
                emit(f"{label}: batch {b + 1}/{len(batches)}", done=b + 1, total=len(batches))

    for q in acts.values():
        q.calibrator = _AbsMax()
    run_pass("max")
    absmax = {n: float(q.calibrator.value) if q.calibrator.value is not None else 0.0 for n, q in acts.items()}
    hists: dict[str, np.ndarray | None] = {n: None for n in acts}
    if method != "max":
        bins = p.get("bins") or (8192 if method == "percentile" else 2048)
        for n, q in acts.items():
            q.calibrator = _AbsHistogram(absmax[n], bins, device)
        run_pass(f"histogram ({method})")
        hists = {n: q.calibrator.counts.cpu().numpy() for n, q in acts.items()}
    unreached = sorted(n for n, v in absmax.items() if v == 0.0)
    tensors_stats = []
    for n, q in acts.items():
        amax = compute_amax(method, hists[n], absmax[n], p.get("percentile", 99.99))
        q.set_amax(torch.tensor(amax, dtype=torch.float32))
        q.calibrator = None
        tensors_stats.append({"quantizer": n, "absmax": absmax[n], "amax": amax, "clipped": 1 - amax / absmax[n] if absmax[n] > 0 else 0.0})
    set_mode(model, "quant", excluded)

    emit("checking fake-quant against FP32 on the calibration set")
    labels = _labels(p, p["data"], len(samples))
    fake = _logits(model, samples, dataset["padId"], device, p["batchSize"])
    set_mode(model, "off")
    ref = _logits(model, samples, dataset["padId"], device, p["batchSize"])
    set_mode(model, "quant", excluded)
    check = _agreement(ref, fake, labels)

    copy_tree(state_dir, out, HF_DIR, PATCHED_DIR)
    save_f32_tensors(os.path.join(out, QUANT_FILE), _quant_tensors(model), {"qrun": "torch.calibrate", "method": method})
    state["calibration"] = {
        "method": method,
        "percentile": p.get("percentile") if method == "percentile" else None,
        "data": p["data"],
        "samples": len(samples),
        "batches": len(batches),
        "device": device,
        "tensors": sorted(tensors_stats, key=lambda t: t["quantizer"]),
    }
    state["steps"].append("torch.calibrate")
    write_state(out, state)
    clipped = [t["clipped"] for t in tensors_stats]
    return {
        "method": f"percentile {p.get('percentile')}" if method == "percentile" else method,
        "samples": len(samples),
        "batches": len(batches),
        "activationQuantizers": len(acts),
        "unreached": unreached,
        "meanClippedRange": sum(clipped) / max(1, len(clipped)),
        "device": device,
        "calibrationAgreement": check["agreement"],
        "calibrationMaxAbsError": check["maxAbsError"],
        **_versions(),
    }


# --- torch.qat -------------------------------------------------------------------------------------


def qat(p: dict[str, Any], emit: Emit) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from .data import encoder_inputs, read_dataset
    from .model_io import build_model, resolve_device

    state_dir, out = p["stateDir"], p["outDir"]
    state = read_state(state_dir)
    _require_state(state, "patch", "torch.qat")
    _require_state(state, "calibration", "torch.qat")
    device = resolve_device(p.get("device", "auto"))
    seed = int(p["seed"])
    _seed_everything(seed)
    train = read_dataset(p["datasetsDir"], p["data"])
    check_set = read_dataset(p["datasetsDir"], p["checkData"]) if p.get("checkData") else None

    teacher, _ = build_model(state_dir, state, patched=False)
    student, _ = build_model(state_dir, state)
    teacher.to(device).eval()
    student.to(device)
    excluded = student._qrun_excluded  # noqa: SLF001
    for prm in teacher.parameters():
        prm.requires_grad_(False)

    samples = train["samples"][: p["samples"]] if p.get("samples") else train["samples"]
    labels = _labels(p, p["data"], len(samples))
    if p["distillationWeight"] < 1 and any(l is None for l in labels):
        raise WorkerError("DATA_INVALID", f'data set "{p["data"]}" has samples without a known label', "label every training sample, or set distillationWeight: 1")
    pad_id = train["padId"]

    def check(label: str) -> dict[str, Any]:
        if check_set is None:
            return {}
        student.eval()
        ref = _logits(teacher, check_set["samples"], check_set["padId"], device, 64)
        cand = _logits(student, check_set["samples"], check_set["padId"], device, 64)
        r = _agreement(ref, cand, _labels(p, p["checkData"], len(check_set["samples"])))
        emit(f"{label}: agreement with FP32 on {p['checkData']} {r['agreement']:.4f}", level="info")
        return r

    before = check("before QAT")
    decay = [prm for n, prm in student.named_parameters() if prm.requires_grad and not (n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n)]
    no_decay = [prm for n, prm in student.named_parameters() if prm.requires_grad and (n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": p["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}], lr=p["learningRate"]
    )
    bs = p["batchSize"]
    steps_per_epoch = (len(samples) + bs - 1) // bs
    total = steps_per_epoch * p["epochs"]
    warmup = int(total * p["warmupRatio"])

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    T = float(p["temperature"])
    w = float(p["distillationWeight"])
    generator = torch.Generator().manual_seed(seed)
    step = 0
    epoch_loss: list[float] = []
    started = time.time()
    for epoch in range(p["epochs"]):
        student.train()
        order = torch.randperm(len(samples), generator=generator).tolist()
        running = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * bs : (b + 1) * bs]
            batch = encoder_inputs([samples[i]["ids"] for i in idx], pad_id, device)
            with torch.no_grad():
                t_logits = teacher(**batch).logits
            s_logits = student(**batch).logits
            loss = torch.zeros((), device=device)
            if w > 0:
                kd = F.kl_div(F.log_softmax(s_logits / T, dim=-1), F.softmax(t_logits / T, dim=-1), reduction="batchmean") * T * T
                loss = loss + w * kd
            if w < 1:
                y = torch.tensor([labels[i] for i in idx], device=device)
                loss = loss + (1 - w) * F.cross_entropy(s_logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            running += float(loss.detach())
            if b % 10 == 0 or b == steps_per_epoch - 1:
                emit(f"epoch {epoch + 1}/{p['epochs']}: step {b + 1}/{steps_per_epoch}, loss {running / (b + 1):.4f}", done=step, total=total)
        epoch_loss.append(running / steps_per_epoch)
    after = check("after QAT")

    student.eval().to("cpu")
    teacher.to("cpu")
    student.save_pretrained(os.path.join(out, HF_DIR))
    copy_tree(state_dir, out, PATCHED_DIR)
    save_f32_tensors(os.path.join(out, QUANT_FILE), _quant_tensors(student), {"qrun": "torch.qat"})
    state["qat"] = {k: p[k] for k in ("data", "epochs", "learningRate", "batchSize", "seed", "temperature", "distillationWeight", "weightDecay", "warmupRatio")}
    state["qat"].update({"samples": len(samples), "device": device, "epochLoss": epoch_loss})
    state["steps"].append("torch.qat")
    write_state(out, state)
    metrics: dict[str, Any] = {
        "samples": len(samples),
        "epochs": p["epochs"],
        "steps": total,
        "epochLoss": epoch_loss,
        "device": device,
        "trainSeconds": round(time.time() - started, 2),
        **_versions(),
    }
    if before:
        metrics["checkAgreementBefore"] = before["agreement"]
        metrics["checkAgreementAfter"] = after["agreement"]
        if "int8Accuracy" in after:
            metrics["checkAccuracyBefore"] = before["int8Accuracy"]
            metrics["checkAccuracyAfter"] = after["int8Accuracy"]
    return metrics


# --- torch.export ----------------------------------------------------------------------------------


def export(p: dict[str, Any], emit: Emit) -> dict[str, Any]:
    import torch

    from .data import encoder_inputs, read_dataset
    from .exporting import export_qdq, freeze_weight_quantizers, scales_match_amax
    from .model_io import build_model
    from .onnx_qdq import activation_scales, qdq_summary

    try:
        import onnx  # noqa: F401
    except ImportError as e:
        raise WorkerError("TOOL_MISSING", f"the onnx package is not installed for this Python ({e})", "pip install onnx, or set QRUN_PYTHON to a Python that has it") from e

    state_dir, out = p["stateDir"], p["outDir"]
    os.makedirs(out, exist_ok=True)
    state = read_state(state_dir)
    _require_state(state, "patch", "torch.export")
    _require_state(state, "calibration", "torch.export")
    opset = int(p["opset"])
    model, _ = build_model(state_dir, state)
    model.eval()
    freeze_weight_quantizers(model)

    class Logits(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    example = encoder_inputs([[1, 5, 6, 7, 8, 9, 10, 2], [1, 11, 12, 2]], 0, "cpu")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    dynamic = {n: {0: "batch", 1: "sequence"} for n in names}
    dynamic["logits"] = {0: "batch"}
    path = os.path.join(out, "model.onnx")
    emit(f"exporting with the TorchScript exporter, opset {opset}; int8 weights, one Q/DQ pair per consumer")
    proto, counts = export_qdq(Logits(model).eval(), tuple(example[n] for n in names), names, ["logits"], dynamic, path, opset)
    act_ok, weights_ok = scales_match_amax(model, proto)
    if not (act_ok and weights_ok):
        raise WorkerError(
            "TORCH_EXPORT",
            f"exported scales differ from the calibrated amax/127 (activations match: {act_ok}, weights match: {weights_ok})",
            "this is a bug in qrun's torch worker: report it with the step's log",
        )
    got_act = activation_scales(proto)
    summary = qdq_summary(proto)
    metrics: dict[str, Any] = {
        "opset": opset,
        "bytes": os.path.getsize(path),
        "nodes": len(proto.graph.node),
        "quantizedNodes": summary["quantizedNodes"],
        "weightTensors": summary["weightTensors"],
        "activationScales": len(got_act),
        "scalesMatchAmax": True,
        "ops": summary["ops"],
        **counts,
        **_versions(),
    }

    if p.get("verifyData"):
        try:
            import onnxruntime as ort
        except ImportError:
            emit("onnxruntime is not installed: skipping the ONNX-vs-torch check", level="warn")
        else:
            dataset = read_dataset(p["datasetsDir"], p["verifyData"])
            samples = dataset["samples"]
            emit(f"checking onnxruntime against torch on {p['verifyData']}")
            session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            graph_inputs = {i.name for i in session.get_inputs()}
            from .data import batches_by_length

            ref = _logits(model, samples, dataset["padId"], "cpu", 32)
            got: list[Any] = [None] * len(samples)
            for idx in batches_by_length([len(s["ids"]) for s in samples], 32):
                feeds = encoder_inputs([samples[i]["ids"] for i in idx], dataset["padId"], "cpu")
                res = session.run(["logits"], {k: v.numpy() for k, v in feeds.items() if k in graph_inputs})[0]
                for k, i in enumerate(idx):
                    got[i] = torch.from_numpy(res[k])
            r = _agreement(ref, torch.stack(got), [None] * len(samples))
            metrics["ortArgmaxAgreement"] = r["agreement"]
            metrics["ortMaxAbsDiff"] = r["maxAbsError"]
    return metrics


METHODS: dict[str, Callable[[dict[str, Any], Emit], dict[str, Any]]] = {
    "load": load,
    "patch": patch,
    "calibrate": calibrate,
    "qat": qat,
    "export": export,
}


def dispatch(method: str, params: dict[str, Any], emit: Emit) -> dict[str, Any]:
    if method == "ping":
        return {"worker": WORKER_VERSION}
    fn = METHODS.get(method)
    if fn is None:
        raise WorkerError("WORKER_PROTOCOL", f"unknown method {method!r}; known: {', '.join(METHODS)}")
    return fn(params, emit)
