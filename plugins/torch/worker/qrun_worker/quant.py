"""Fake quantization written with torch's own ops (no extra quantization package).

TensorQuantizer is symmetric int8: scale = amax / 127, zero point 0, values rounded half to even and
saturated to [-128, 127], exactly ONNX QuantizeLinear followed by DequantizeLinear
(https://onnx.ai/onnx/operators/onnx__QuantizeLinear.html). It is built on
torch.fake_quantize_per_tensor_affine / _per_channel_affine: their backward is the straight-through
estimator (gradient 1 inside the range, 0 where clipped), and the TorchScript ONNX exporter turns
them into QuantizeLinear/DequantizeLinear pairs at opset >= 13.

- Activations: per tensor; amax comes from calibration and stays fixed during QAT.
- Weights: per output channel (axis 0 of nn.Linear's [out, in] weight); amax is max |w| of each row,
  taken from the weight itself on every call, so it follows the weights during QAT. `freeze()` turns
  it into a fixed buffer for export.

Buffers are non-persistent: a model's state_dict (and save_pretrained) holds only the Hugging Face
weights; the amax values are saved separately (state.py, quant_state.safetensors).
"""
from __future__ import annotations

import re

import torch
from torch import nn

QMIN, QMAX = -128, 127
MODES = ("quant", "calib", "off")


class TensorQuantizer(nn.Module):
    def __init__(self, axis: int | None = None):
        super().__init__()
        self.axis = axis
        self.mode = "quant"
        self.calibrator = None  # set by calibration: an object with .collect(tensor)
        self.register_buffer("amax", torch.tensor(float("nan")), persistent=False)
        self.register_buffer("scale", torch.tensor(float("nan")), persistent=False)
        self.register_buffer("zero_point", torch.zeros((), dtype=torch.int32), persistent=False)
        self.frozen = False
        self.has_amax = False

    def reset(self, device: torch.device | str = "cpu") -> None:
        """Fresh buffers. transformers 5 builds models on the meta device and materialises only
        what the checkpoint holds, so non-persistent buffers made in __init__ may be meta or
        uninitialised after from_pretrained."""
        self.amax = torch.tensor(float("nan"), device=device)
        self.scale = torch.tensor(float("nan"), device=device)
        self.zero_point = torch.zeros((), dtype=torch.int32, device=device)
        self.frozen = False
        self.has_amax = False

    @property
    def per_channel(self) -> bool:
        return self.axis is not None

    def extra_repr(self) -> str:
        return f"axis={self.axis}, mode={self.mode}"

    def set_amax(self, amax: torch.Tensor) -> None:
        amax = amax.detach().to(device=self.amax.device, dtype=torch.float32)
        self.amax = amax.clone()
        self.scale = scale_of(amax)
        self.zero_point = torch.zeros(amax.shape, dtype=torch.int32, device=amax.device)
        self.has_amax = True

    def weight_amax(self, w: torch.Tensor) -> torch.Tensor:
        dims = [d for d in range(w.dim()) if d != self.axis]
        return w.detach().abs().amax(dim=dims).float()

    def freeze(self, w: torch.Tensor | None = None) -> None:
        """Fixes scale and zero point as buffers (export: they become the Q/DQ initializers)."""
        if self.per_channel:
            assert w is not None
            self.set_amax(self.weight_amax(w))
        self.frozen = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "off":
            return x
        if self.mode == "calib":
            if self.calibrator is not None:
                self.calibrator.collect(x.detach())
            return x
        if self.per_channel and not self.frozen:
            scale = scale_of(self.weight_amax(x))
            zero_point = torch.zeros(scale.shape, dtype=torch.int32, device=x.device)
        else:
            if not self.has_amax:
                raise RuntimeError("quantizer used before calibration (amax is not set): run torch.calibrate first")
            scale, zero_point = self.scale, self.zero_point
        if self.per_channel:
            return torch.fake_quantize_per_channel_affine(x, scale, zero_point, self.axis, QMIN, QMAX)
        return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, QMIN, QMAX)


def scale_of(amax: torch.Tensor) -> torch.Tensor:
    """amax / 127 in float32; an all-zero range gets scale 1 (any scale represents zeros exactly)."""
    amax = amax.float()
    return torch.where(amax > 0, amax / 127.0, torch.ones_like(amax))


class QuantLinear(nn.Linear):
    """nn.Linear with a per-tensor input quantizer and a per-output-channel weight quantizer. Same
    parameters and state_dict keys as nn.Linear, so Hugging Face weights load unchanged."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.input_quantizer = TensorQuantizer()
        self.weight_quantizer = TensorQuantizer(axis=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(self.input_quantizer(x), self.weight_quantizer(self.weight), self.bias)


def _site_attr(site: str) -> str:
    return "qrun_" + re.sub(r"[^0-9A-Za-z]+", "_", site).strip("_").lower()


def quant_matmul(owner, site: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """torch.matmul(a, b) with a quantizer on each operand. The quantizers live on `owner` (the
    attention module) as `<site>_a` / `<site>_b`, created on first use: a model is run once right
    after it is built (patching.discover_quantizers), so they exist before anything else."""
    if not isinstance(owner, nn.Module):
        return torch.matmul(a, b)
    base = _site_attr(site)
    qa = getattr(owner, base + "_a", None)
    if qa is None:
        # Created "off": only the model's builder (patching.build_model) decides what is quantized.
        qa = TensorQuantizer().to(a.device)
        qb = TensorQuantizer().to(a.device)
        qa.mode = qb.mode = "off"
        owner.add_module(base + "_a", qa)
        owner.add_module(base + "_b", qb)
    qb = getattr(owner, base + "_b")
    return torch.matmul(qa(a), qb(b))


def quantizers(model: nn.Module) -> dict[str, TensorQuantizer]:
    """Every quantizer by qualified name, in module order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, TensorQuantizer)}


def set_mode(model: nn.Module, mode: str, excluded: set[str] | None = None) -> None:
    assert mode in MODES
    for name, q in quantizers(model).items():
        q.mode = "off" if excluded and name in excluded else mode
