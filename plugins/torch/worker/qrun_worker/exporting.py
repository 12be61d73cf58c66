"""ONNX export of a fake-quantized model: TorchScript exporter (fake_quantize_* → Q/DQ at opset
>= 13), then finalize_qdq (int8 weights, one pair per consumer), then a check that every exported
scale is the calibrated amax / 127."""
from __future__ import annotations

import inspect
import os
import shutil
import tempfile
from typing import Any

import numpy as np

from .onnx_qdq import activation_scales, finalize_qdq, weight_scales

MIN_OPSET = 13  # per-channel QuantizeLinear/DequantizeLinear (axis) arrived in opset 13


def freeze_weight_quantizers(model: Any) -> None:
    from .quant import quantizers

    modules = dict(model.named_modules())
    for name, q in quantizers(model).items():
        if q.per_channel and q.mode != "off":
            q.freeze(modules[name.rsplit(".", 1)[0]].weight)


def export_qdq(module: Any, args: tuple, input_names: list[str], output_names: list[str], dynamic_axes: dict, path: str, opset: int) -> tuple[Any, dict[str, int]]:
    import onnx
    import torch

    if opset < MIN_OPSET:
        raise ValueError(f"opset {opset} is below {MIN_OPSET}, the first with per-channel QuantizeLinear")
    kwargs: dict[str, Any] = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript exporter has the fake_quantize symbolics
    # Past 2 GiB the exporter writes external data beside its output, one file per tensor: it works in
    # a folder of its own, onnx.load reads the data back in, and the folder goes.
    work = tempfile.mkdtemp(prefix=".export-", dir=os.path.dirname(path) or ".")
    try:
        raw = os.path.join(work, "model.onnx")
        with torch.no_grad():
            torch.onnx.export(
                module, args, raw, input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes,
                opset_version=opset, do_constant_folding=True, **kwargs,
            )
        proto = onnx.load(raw)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    counts = finalize_qdq(proto)
    save_model_file(proto, path)
    onnx.checker.check_model(path)  # by path: the checker takes a model over 2 GiB only that way
    return proto, counts


PROTOBUF_LIMIT = 2**31 - 1


def save_model_file(proto: Any, path: str) -> None:
    """One file, or, past protobuf's 2 GiB limit, `path` and `<name>.data` beside it (initializers of
    1 KiB or more, as qrun's own writer lays a model out: src/runtime/model-file.ts)."""
    import onnx

    if proto.ByteSize() < PROTOBUF_LIMIT:
        with open(path, "wb") as f:
            f.write(proto.SerializeToString())
        return
    onnx.save_model(
        proto, path, save_as_external_data=True, all_tensors_to_one_file=True,
        location=os.path.basename(path) + ".data", size_threshold=1024,
    )
    # Saving moved the tensors' bytes out of `proto`; the scale checks after the export read them.
    from onnx.external_data_helper import load_external_data_for_model

    load_external_data_for_model(proto, os.path.dirname(path) or ".")


def scales_match_amax(model: Any, proto: Any) -> tuple[bool, bool]:
    """(activations match, weights match): the exported scales against the quantizers' amax / 127."""
    from .quant import quantizers

    qs = {n: q for n, q in quantizers(model).items() if q.mode != "off"}
    want_act = sorted({float(q.scale) for q in qs.values() if not q.per_channel})
    got_act = sorted(set(activation_scales(proto)))
    want_w = sorted(tuple(q.scale.cpu().numpy().astype(np.float32).tolist()) for q in qs.values() if q.per_channel)
    got_w = sorted(tuple(s.astype(np.float32).tolist()) for s in weight_scales(proto))
    return want_act == got_act, want_w == got_w
