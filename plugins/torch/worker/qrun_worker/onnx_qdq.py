"""Finishing the exported QDQ graph the way qrun's own qdq.insert lays it out (docs/architecture.md,
"Why QDQ looks the way it does"):

- Weights: QuantizeLinear of a constant weight is computed here and stored as an int8 initializer
  behind a per-channel DequantizeLinear (4x smaller; TensorRT's rule for weights). A Transpose
  between that DequantizeLinear and its MatMul (how the TorchScript exporter writes nn.Linear on
  3-D inputs) is folded into the int8 data, so the DequantizeLinear feeds the MatMul directly and
  onnxruntime can fuse it (MatMulIntegerToFloat).
- Activations: every Q/DQ pair gets its own scale and zero-point initializers, and a pair feeding
  several nodes is split into one pair per consumer: with shared ones onnxruntime's common
  subexpression elimination merges the pairs and then fuses only some of the MatMuls.

QuantizeLinear: y = saturate(round(x / y_scale) + y_zero_point), round half to even
(https://onnx.ai/onnx/operators/onnx__QuantizeLinear.html).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np


def _attr(node: Any, name: str, default: Any) -> Any:
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


class _Graph:
    def __init__(self, model: Any):
        from onnx import numpy_helper

        self.model = model
        self.graph = model.graph
        self.inits = {t.name: t for t in self.graph.initializer}
        self.constants: dict[str, np.ndarray] = {}
        for node in self.graph.node:
            if node.op_type == "Constant":
                value = _attr(node, "value", None)
                if value is not None:
                    self.constants[node.output[0]] = numpy_helper.to_array(value)
        self.producer = {o: n for n in self.graph.node for o in n.output}

    def consumers(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = defaultdict(list)
        for n in self.graph.node:
            for i in n.input:
                out[i].append(n)
        return out

    def const(self, name: str) -> np.ndarray | None:
        """The value of a tensor that is constant: an initializer, a Constant, or Cast/Identity of one."""
        from onnx import helper, numpy_helper

        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        if name in self.constants:
            return self.constants[name]
        node = self.producer.get(name)
        if node is not None and node.op_type in ("Cast", "Identity"):
            value = self.const(node.input[0])
            if value is None:
                return None
            if node.op_type == "Cast":
                return value.astype(helper.tensor_dtype_to_np_dtype(_attr(node, "to", 1)))
            return value
        return None


def quantize_int8(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int) -> np.ndarray:
    x = x.astype(np.float32)
    if scale.ndim == 1 and x.ndim > 1:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale = scale.reshape(shape)
        zero_point = zero_point.reshape(shape)
    q = np.rint(x / scale.astype(np.float32)) + zero_point.astype(np.int32)
    return np.clip(q, -128, 127).astype(np.int8)


def finalize_qdq(model: Any) -> dict[str, int]:
    """Rewrites `model` in place (see the module doc); returns counts for the step's metrics."""
    from onnx import helper, numpy_helper

    g = _Graph(model)
    graph = g.graph
    consumers = g.consumers()
    new_inits: list[Any] = []
    removed: set[int] = set()  # id() of nodes to drop
    inserted_after: dict[int, list[Any]] = defaultdict(list)
    counts = {"weights": 0, "weightTransposesFolded": 0, "activationPairs": 0, "pairsSplit": 0}
    used_names: set[str] = set(g.inits) | {o for n in graph.node for o in n.output}

    def fresh(base: str) -> str:
        base = base.lstrip("/").replace("/", "_") or "qdq"
        name, k = base, 1
        while name in used_names:
            k += 1
            name = f"{base}_{k}"
        used_names.add(name)
        return name

    for q in list(graph.node):
        if q.op_type != "QuantizeLinear":
            continue
        dqs = consumers.get(q.output[0], [])
        if not dqs or any(d.op_type != "DequantizeLinear" for d in dqs):
            continue  # not a Q/DQ pair as fake quantization exports it: leave it alone
        scale = g.const(q.input[1])
        zero_point = g.const(q.input[2]) if len(q.input) > 2 and q.input[2] else np.zeros_like(scale, dtype=np.int8)
        if scale is None or zero_point is None:
            raise ValueError(f"QuantizeLinear {q.name or q.output[0]}: scale or zero point is not constant")
        zero_point = zero_point.astype(np.int8)
        scale = scale.astype(np.float32)
        axis = int(_attr(q, "axis", 1))
        label = q.name or q.output[0]
        weight = g.const(q.input[0])

        if weight is not None:
            # Constant input: quantize now, keep only the DequantizeLinear.
            data = quantize_int8(weight, scale, zero_point, axis if weight.ndim > 1 else 0)
            removed.add(id(q))
            for dq in dqs:
                dq_axis = axis
                outs = consumers.get(dq.output[0], [])
                if (
                    data.ndim == 2
                    and len(outs) == 1
                    and outs[0].op_type == "Transpose"
                    and list(_attr(outs[0], "perm", [1, 0])) == [1, 0]
                    and dq.output[0] not in {o.name for o in graph.output}
                ):
                    t = outs[0]
                    data_t, dq_axis = data.T.copy(), 1 - axis
                    dq.output[0] = t.output[0]
                    removed.add(id(t))
                    counts["weightTransposesFolded"] += 1
                else:
                    data_t = data
                base = fresh(label.replace("QuantizeLinear", "weight"))
                new_inits.append(numpy_helper.from_array(data_t, base + "_int8"))
                new_inits.append(numpy_helper.from_array(scale, base + "_scale"))
                new_inits.append(numpy_helper.from_array(zero_point, base + "_zero_point"))
                del dq.input[:]
                dq.input.extend([base + "_int8", base + "_scale", base + "_zero_point"])
                _set_axis(dq, dq_axis if scale.ndim == 1 else None)
                counts["weights"] += 1
            continue

        # Activation: one pair per consumer, each with its own scale / zero point, named after the
        # consumer and the input it feeds (e.g. "/bert/.../key/MatMul" input 0).
        pairs = [(dq, c) for dq in dqs for c in consumers.get(dq.output[0], [None])]
        counts["activationPairs"] += len(pairs)
        for k, (dq, consumer) in enumerate(pairs):
            if consumer is None:
                where = label
            else:
                slot = next(i for i, name in enumerate(consumer.input) if name == dq.output[0])
                where = f"{consumer.name or consumer.op_type}/in{slot}"
            qn, base = q, None
            if k > 0:
                # A copy of the pair for this consumer, right after the original DQ.
                counts["pairsSplit"] += 1
                out = fresh(where)
                qn = helper.make_node("QuantizeLinear", [q.input[0], "", ""], [out + "_quantized"], name=f"{where}/QuantizeLinear")
                new_dq = helper.make_node("DequantizeLinear", [out + "_quantized", "", ""], [out + "_dequantized"], name=f"{where}/DequantizeLinear")
                for i, name in enumerate(consumer.input):
                    if name == dq.output[0]:
                        consumer.input[i] = new_dq.output[0]
                inserted_after[id(dq)].append(qn)
                inserted_after[id(dq)].append(new_dq)
                dq, base = new_dq, out
            base = base or fresh(where)
            new_inits.append(numpy_helper.from_array(scale, base + "_scale"))
            new_inits.append(numpy_helper.from_array(zero_point, base + "_zero_point"))
            for node in (qn, dq):
                node.input[1] = base + "_scale"
                node.input[2] = base + "_zero_point"

    nodes = []
    for n in graph.node:
        if id(n) in removed:
            continue
        nodes.append(n)
        nodes.extend(inserted_after.get(id(n), []))
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(new_inits)
    _prune(model)
    return counts


def _set_axis(node: Any, axis: int | None) -> None:
    from onnx import helper

    keep = [a for a in node.attribute if a.name != "axis"]
    del node.attribute[:]
    node.attribute.extend(keep)
    if axis is not None:
        node.attribute.append(helper.make_attribute("axis", axis))


def _prune(model: Any) -> None:
    """Drops nodes whose outputs nothing reads, and initializers nothing reads."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    while True:
        used = {i for n in graph.node for i in n.input} | outputs
        keep = [n for n in graph.node if any(o in used for o in n.output)]
        if len(keep) == len(graph.node):
            break
        del graph.node[:]
        graph.node.extend(keep)
    used = {i for n in graph.node for i in n.input} | outputs
    inits = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def qdq_summary(model: Any) -> dict[str, Any]:
    """Op counts, and which MatMul/Gemm nodes read a DequantizeLinear (the quantized ones)."""
    g = _Graph(model)
    ops: dict[str, int] = defaultdict(int)
    for n in model.graph.node:
        ops[n.op_type] += 1
    quantized = 0
    weights = 0
    for n in model.graph.node:
        if n.op_type in ("MatMul", "Gemm"):
            ins = [g.producer.get(i) for i in n.input[:2]]
            if all(p is not None and p.op_type == "DequantizeLinear" for p in ins):
                quantized += 1
            weights += sum(1 for p in ins if p is not None and p.op_type == "DequantizeLinear" and p.input[0] in g.inits)
    return {"ops": dict(sorted(ops.items())), "quantizedNodes": quantized, "weightTensors": weights}


def activation_scales(model: Any) -> list[float]:
    """The scale of every activation QuantizeLinear (non-constant input)."""
    g = _Graph(model)
    out = []
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear" and g.const(n.input[0]) is None:
            out.append(float(g.const(n.input[1]).reshape(-1)[0]))
    return out


def weight_scales(model: Any) -> list[np.ndarray]:
    """Per-channel scales of every int8 weight DequantizeLinear."""
    from onnx import TensorProto

    g = _Graph(model)
    out = []
    for n in model.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in g.inits and g.inits[n.input[0]].data_type == TensorProto.INT8:
            out.append(g.const(n.input[1]))
    return out
