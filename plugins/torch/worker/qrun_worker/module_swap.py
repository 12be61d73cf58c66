"""Module-swap quantization for any torch model (issue 17 item 6).

ast_patches.py rewrites a Hugging Face modeling file's source; that only works for code we know.
NVIDIA's Lidar QAT tools (CUDA-BEVFusion / CUDA-PointPillars, `quantize.py`) and
pytorch-quantization's `quant_modules` replace *modules* instead, which works on any model:

1. fold_batchnorm: each Conv followed by a BatchNorm (running statistics) becomes one Conv
   (torch.fx pattern match). TensorRT folds BatchNorm anyway, so the weight QAT trains and the
   per-channel scales it learns with must be the folded weight that is deployed.
2. swap_modules: every nn.Conv2d / nn.Linear becomes QuantConv2d / QuantLinear: a per-tensor input
   quantizer and a per-output-channel weight quantizer (axis 0), quant.py's TensorQuantizer.
3. insert_graph_quantizers (torch.fx graph): where TensorRT wants Q/DQ outside Conv/Linear inputs.
   - Residual Add: a quantizer on the shortcut input (the one not computed by a quantized layer; with
     two layers, the shorter branch from where they split), so TensorRT fuses Conv + Add + ReLU
     with the Add reading int8 ("quantize the residual input in element-wise addition").
   - Concat: all inputs go through one shared quantizer (Lidar's QuantConcat), and the quantized
     layers that read the Concat's output use that same quantizer for their input: inputs and
     output share one scale, so TensorRT can move the Q/DQ across the Concat and drops the
     requantization.
4. calibrate: amax of each activation quantizer by calibrators.py's methods (max, percentile,
   entropy, mse), two passes as torch.calibrate does.
5. export_qdq_model: exporting.export_qdq (TorchScript exporter, finalize_qdq): int8 weight
   initializers behind DequantizeLinear, one activation Q/DQ pair per consumer, the layout of qrun's
   own qdq.insert, so the result goes on to sensitivity, bench, trtexec like qrun's PTQ output.
"""
from __future__ import annotations

import operator
import re
from typing import Any, Callable, Iterable

import torch
from torch import fx, nn

from .calibrators import compute_amax
from .quant import QuantLinear, TensorQuantizer, quantizers, set_mode


class QuantConv2d(nn.Conv2d):
    """nn.Conv2d with a per-tensor input quantizer and a per-output-channel weight quantizer (the
    weight is [out, in/groups, kH, kW]: axis 0). Same parameters and state_dict keys as nn.Conv2d."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.input_quantizer = TensorQuantizer()
        self.weight_quantizer = TensorQuantizer(axis=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.input_quantizer(x), self.weight_quantizer(self.weight), self.bias)


def _conv_from_float(m: nn.Conv2d) -> QuantConv2d:
    q = QuantConv2d(
        m.in_channels, m.out_channels, m.kernel_size, stride=m.stride, padding=m.padding, dilation=m.dilation,
        groups=m.groups, bias=m.bias is not None, padding_mode=m.padding_mode,
        device=m.weight.device, dtype=m.weight.dtype,
    )
    q.load_state_dict(m.state_dict())
    return q


def _linear_from_float(m: nn.Linear) -> QuantLinear:
    q = QuantLinear(m.in_features, m.out_features, bias=m.bias is not None, device=m.weight.device, dtype=m.weight.dtype)
    q.load_state_dict(m.state_dict())
    return q


QUANT_LAYERS = (QuantConv2d, QuantLinear)


def _module_calls(gm: fx.GraphModule, kind: type) -> int:
    mods = dict(gm.named_modules())
    return sum(1 for n in gm.graph.nodes if n.op == "call_module" and isinstance(mods.get(n.target), kind))


def fold_batchnorm(model: nn.Module) -> tuple[fx.GraphModule, dict[str, int]]:
    """The model as a torch.fx GraphModule with every Conv → BatchNorm pair folded into the Conv
    (weights and bias rescaled by the running statistics: torch.nn.utils.fusion.fuse_conv_bn_eval).
    A BatchNorm stays (counted in `kept`) unless it directly follows a Conv that is called once and
    whose output nothing else reads: folding would change the other readers."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = model.eval()  # folding uses the running statistics (torch asserts eval mode)
    gm = fx.symbolic_trace(model)
    mods = dict(gm.named_modules())
    calls: dict[str, int] = {}
    for n in gm.graph.nodes:
        if n.op == "call_module":
            calls[n.target] = calls.get(n.target, 0) + 1
    folded = 0
    for node in list(gm.graph.nodes):
        bn = mods.get(node.target) if node.op == "call_module" else None
        if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or not bn.track_running_stats:
            continue
        prev = node.args[0] if node.args else None
        conv = mods.get(prev.target) if isinstance(prev, fx.Node) and prev.op == "call_module" else None
        if not isinstance(conv, nn.modules.conv._ConvNd) or calls.get(prev.target) != 1 or len(prev.users) != 1 or calls.get(node.target) != 1:
            continue
        parent_name, _, attr = prev.target.rpartition(".")
        setattr(gm.get_submodule(parent_name) if parent_name else gm, attr, fuse_conv_bn_eval(conv, bn))
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)
        folded += 1
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return gm, {"folded": folded, "kept": _module_calls(gm, nn.modules.batchnorm._BatchNorm)}


def swap_modules(model: nn.Module, exclude: Iterable[str] = ()) -> list[str]:
    """Replaces nn.Conv2d / nn.Linear (exact types) by their quantized twins, in place; modules whose
    qualified name matches a regex of `exclude` stay float. Returns the names swapped."""
    patterns = [re.compile(p) for p in exclude]
    swapped = []
    for name, m in list(model.named_modules()):
        if type(m) not in (nn.Conv2d, nn.Linear) or any(p.search(name) for p in patterns):
            continue
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, _conv_from_float(m) if isinstance(m, nn.Conv2d) else _linear_from_float(m))
        swapped.append(name)
    return swapped


ADD_TARGETS = (operator.add, operator.iadd, torch.add)
CAT_TARGETS = (torch.cat, torch.concat)


def _is_quant_layer(gm: fx.GraphModule, node: Any) -> bool:
    return isinstance(node, fx.Node) and node.op == "call_module" and isinstance(gm.get_submodule(node.target), QUANT_LAYERS)


def _ancestors(node: fx.Node, limit: int = 400) -> dict[fx.Node, int]:
    dist = {node: 0}
    frontier = [node]
    for d in range(1, limit + 1):
        nxt = []
        for n in frontier:
            for a in n.all_input_nodes:
                if a not in dist:
                    dist[a] = d
                    nxt.append(a)
        if not nxt:
            break
        frontier = nxt
    return dist


def residual_shortcut(gm: fx.GraphModule, node: fx.Node) -> int | None:
    """Index (0 or 1) of the shortcut input of a residual Add, or None when the Add is not one: the
    same rule as src/quant/place-qdq.ts's findResidualAdds. One input must come out of a quantized
    layer; the shortcut is the other one, or, when both do (a projection shortcut), the one on the
    shorter branch from where the two split."""
    if len(node.args) != 2 or not all(isinstance(a, fx.Node) for a in node.args) or node.args[0] is node.args[1]:
        return None
    if any(a.op == "get_attr" for a in node.args):
        return None  # a layer output plus a parameter (a learned bias or position table): not a residual
    a, b = node.args
    qa, qb = _is_quant_layer(gm, a), _is_quant_layer(gm, b)
    if qa and not qb:
        return 1
    if qb and not qa:
        return 0
    if not (qa and qb):
        return None
    da, db = _ancestors(a), _ancestors(b)
    best, shortcut = None, None
    for n, d1 in da.items():
        d2 = db.get(n)
        if d2 is not None and (best is None or d1 + d2 < best):
            best, shortcut = d1 + d2, 1 if d2 <= d1 else 0
    return shortcut


def insert_graph_quantizers(gm: fx.GraphModule) -> dict[str, list[str]]:
    """Quantizers on residual Adds' shortcuts and shared ones on Concat inputs (see the module doc),
    in place. Returns the Add and Concat nodes handled, by name."""
    done: dict[str, list[str]] = {"residualAdds": [], "concats": []}
    graph = gm.graph
    for node in list(graph.nodes):
        if node.op != "call_function":
            continue
        if node.target in ADD_TARGETS:
            i = residual_shortcut(gm, node)
            if i is None:
                continue
            name = f"qrun_residual_{len(done['residualAdds'])}"
            gm.add_submodule(name, TensorQuantizer())
            with graph.inserting_before(node):
                q = graph.call_module(name, (node.args[i],))
            args = list(node.args)
            args[i] = q
            node.args = tuple(args)
            done["residualAdds"].append(node.name)
        elif node.target in CAT_TARGETS:
            tensors = node.args[0] if node.args else node.kwargs.get("tensors")
            if not isinstance(tensors, (list, tuple)) or not all(isinstance(t, fx.Node) for t in tensors):
                continue
            name = f"qrun_concat_{len(done['concats'])}"
            shared = TensorQuantizer()
            gm.add_submodule(name, shared)
            with graph.inserting_before(node):
                quantized = [graph.call_module(name, (t,)) for t in tensors]
            if node.args:
                node.args = (quantized, *node.args[1:])
            else:
                node.kwargs = {**node.kwargs, "tensors": quantized}
            # The layers reading the Concat's output quantize it with the same scale.
            for user in list(node.users):
                if _is_quant_layer(gm, user) and user.args and user.args[0] is node:
                    gm.get_submodule(user.target).input_quantizer = shared
            done["concats"].append(node.name)
    graph.lint()
    gm.recompile()
    return done


def prepare(model: nn.Module, exclude: Iterable[str] = ()) -> tuple[fx.GraphModule, dict[str, Any]]:
    """fold_batchnorm → swap_modules → insert_graph_quantizers. The result's activation quantizers
    have no range yet: run calibrate before using it."""
    gm, bn = fold_batchnorm(model)
    swapped = swap_modules(gm, exclude)
    extra = insert_graph_quantizers(gm)
    return gm, {"batchNorm": bn, "swapped": swapped, **extra}


class _AbsMax:
    def __init__(self) -> None:
        self.value = None

    def collect(self, x: torch.Tensor) -> None:
        m = x.abs().amax().float()
        self.value = m if self.value is None else torch.maximum(self.value, m)


class _AbsHistogram:
    def __init__(self, absmax: float, bins: int, device: torch.device) -> None:
        self.absmax, self.bins = absmax, bins
        self.counts = torch.zeros(bins, dtype=torch.float64, device=device)

    def collect(self, x: torch.Tensor) -> None:
        if self.absmax > 0:
            self.counts += torch.histc(x.abs().float(), bins=self.bins, min=0.0, max=self.absmax).double()


def activation_quantizers(model: nn.Module) -> dict[str, TensorQuantizer]:
    return {n: q for n, q in quantizers(model).items() if not q.per_channel}


def calibrate(model: nn.Module, batches: Iterable[Any], forward: Callable[[nn.Module, Any], Any] | None = None,
              method: str = "max", percentile: float = 99.99, bins: int | None = None) -> dict[str, float]:
    """Sets every activation quantizer's amax from `batches` (two passes: |x| max, then a histogram
    for the other methods; a shared quantizer sees every tensor it quantizes, so a Concat's range
    covers all its inputs). Weights stay float meanwhile. Returns amax by quantizer name."""
    forward = forward or (lambda m, b: m(b))
    batches = list(batches)
    acts = activation_quantizers(model)
    device = next(model.parameters()).device

    def run_pass() -> None:
        set_mode(model, "off")
        for q in acts.values():
            q.mode = "calib"
        with torch.no_grad():
            for b in batches:
                forward(model, b)

    for q in acts.values():
        q.calibrator = _AbsMax()
    run_pass()
    absmax = {n: float(q.calibrator.value) if q.calibrator.value is not None else 0.0 for n, q in acts.items()}
    hists: dict[str, Any] = {n: None for n in acts}
    if method != "max":
        nb = bins or (8192 if method == "percentile" else 2048)
        for n, q in acts.items():
            q.calibrator = _AbsHistogram(absmax[n], nb, device)
        run_pass()
        hists = {n: q.calibrator.counts.cpu().numpy() for n, q in acts.items()}
    out = {}
    for n, q in acts.items():
        out[n] = compute_amax(method, hists[n], absmax[n], percentile)
        q.set_amax(torch.tensor(out[n], dtype=torch.float32))
        q.calibrator = None
    set_mode(model, "quant")
    return out


def export_qdq_model(model: nn.Module, example: torch.Tensor, path: str, input_name: str = "pixel_values",
                     output_name: str = "logits", opset: int = 17) -> tuple[Any, dict[str, int]]:
    """The calibrated (or QAT-trained) model as a QDQ ONNX file laid out like qdq.insert's output,
    dynamic batch. Weight scales are frozen to the weights' current per-channel max first."""
    from .exporting import export_qdq, freeze_weight_quantizers

    model = model.eval()
    freeze_weight_quantizers(model)
    return export_qdq(model, (example,), [input_name], [output_name], {input_name: {0: "batch"}, output_name: {0: "batch"}}, path, opset)


def unfreeze_weight_quantizers(model: nn.Module) -> None:
    """Back to weight scales that follow the weights (after an export, to train on)."""
    for q in quantizers(model).values():
        if q.per_channel:
            q.frozen = False
