"""Building the model a torch-state describes: the Hugging Face class from its (patched or
original) modeling module, eager attention, quantizers discovered, excluded and loaded."""
from __future__ import annotations

import importlib
import os
import re
from typing import Any

from .patching import PatchedModule, is_restored, patched_module
from .protocol import WorkerError
from .state import HF_DIR, QUANT_FILE, load_f32_tensors


def resolve_device(option: str) -> str:
    import torch

    if option == "cuda" and not torch.cuda.is_available():
        raise WorkerError("DEVICE_UNAVAILABLE", "device: cuda was asked for, but torch sees no CUDA device", "use device: auto or cpu")
    if option in ("auto", "cuda"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cpu"


def from_pretrained(cls: Any, hf_dir: str) -> Any:
    import torch

    # Eager attention: the patched matmuls live in eager_attention_forward (or the eager forward of
    # older releases); SDPA and flash kernels would bypass them.
    torch.manual_seed(0)  # any weight the checkpoint lacks is initialised the same way every time
    model = cls.from_pretrained(hf_dir, attn_implementation="eager")
    from .quant import quantizers

    for q in quantizers(model).values():
        q.reset()
    return model.float().eval()


def original_class(state: dict[str, Any]) -> Any:
    module = importlib.import_module(state["modelingModule"])
    return getattr(module, state["architecture"])


def discover_quantizers(model: Any, config: Any) -> None:
    """One tiny forward pass with every quantizer off: creates the matmul quantizers, which
    quant_matmul adds to their attention module the first time it runs."""
    import torch

    from .quant import set_mode

    set_mode(model, "off")
    vocab = int(getattr(config, "vocab_size", 8) or 8)
    ids = torch.tensor([[min(i + 1, vocab - 1) for i in range(4)]], dtype=torch.long)
    with torch.no_grad():
        model(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids))


def excluded_names(names: list[str], patterns: list[str]) -> set[str]:
    """Quantizers whose owning module (the name without its last part) matches an exclude regex."""
    regexes = [re.compile(p) for p in patterns]
    return {n for n in names if any(r.search(n.rsplit(".", 1)[0]) for r in regexes)}


def build_model(state_dir: str, state: dict[str, Any], *, patched: bool = True, load_amax: bool = True) -> tuple[Any, PatchedModule | None]:
    """The model on CPU, in eval mode. Patched: quantizers in mode "quant" (those excluded "off"),
    with the amax values of quant_state.safetensors when there is one."""
    hf_dir = os.path.join(state_dir, HF_DIR)
    patch = state.get("patch")
    if not patched or not patch:
        return from_pretrained(original_class(state), hf_dir), None

    from .quant import quantizers, set_mode

    module_name = state["modelingModule"]
    with patched_module(module_name, patch["rules"]) as pm:
        cls = getattr(pm.module, state["architecture"])
        model = from_pretrained(cls, hf_dir)
    if not is_restored(module_name, pm.original):
        raise RuntimeError(f"{module_name} was not restored after patching (this is a bug in qrun's torch worker)")
    discover_quantizers(model, model.config)
    names = list(quantizers(model))
    excluded = excluded_names(names, patch.get("exclude", []))
    set_mode(model, "quant", excluded)
    model._qrun_excluded = excluded  # noqa: SLF001 - read by the methods
    if load_amax and os.path.exists(os.path.join(state_dir, QUANT_FILE)):
        import torch

        amax = load_f32_tensors(os.path.join(state_dir, QUANT_FILE))
        for name, q in quantizers(model).items():
            if name in amax and not q.per_channel:
                q.set_amax(torch.from_numpy(amax[name]))
    return model, pm
