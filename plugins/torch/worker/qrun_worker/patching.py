"""Patching a modeling module through its AST, in memory, and building models from it.

patched_module() reads the module's own source (inspect.getsource), applies the AST rules
(ast_patches.py), compiles the result into a *fresh* module object with the original's name,
package and file (so relative imports, tracebacks and inspect keep working), installs it in
sys.modules and on its parent package while the block runs, and puts the original back on exit,
whatever happens. Models built inside the block keep working afterwards: their methods hold the
patched module's globals. The original module object itself is never modified.
"""
from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib
import inspect
import sys
import types
from dataclasses import dataclass
from typing import Iterator

from .ast_patches import QUANT_LINEAR, QUANT_MATMUL, RuleOutcome, apply_rules

_MISSING = object()


@dataclass
class PatchedModule:
    module: types.ModuleType
    original: types.ModuleType
    outcomes: list[RuleOutcome]
    source: str
    patched_source: str

    @property
    def source_sha256(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()


def runtime_names() -> dict[str, object]:
    from .quant import QuantLinear, quant_matmul

    return {QUANT_LINEAR: QuantLinear, QUANT_MATMUL: quant_matmul}


@contextlib.contextmanager
def patched_module(module_name: str, rules: list[str]) -> Iterator[PatchedModule]:
    original = importlib.import_module(module_name)
    source = inspect.getsource(original)
    tree, outcomes = apply_rules(source, rules)
    code = compile(tree, original.__file__ or f"<{module_name}>", "exec")

    patched = types.ModuleType(module_name, original.__doc__)
    for attr in ("__file__", "__package__", "__spec__", "__loader__", "__path__"):
        if hasattr(original, attr):
            setattr(patched, attr, getattr(original, attr))
    patched.__dict__.update(runtime_names())

    parent_name, _, child = module_name.rpartition(".")
    parent = sys.modules.get(parent_name) if parent_name else None
    saved_attr = parent.__dict__.get(child, _MISSING) if parent is not None else _MISSING
    saved_entry = sys.modules.get(module_name, _MISSING)
    try:
        sys.modules[module_name] = patched
        if parent is not None:
            setattr(parent, child, patched)
        exec(code, patched.__dict__)
        yield PatchedModule(patched, original, outcomes, source, ast.unparse(tree))
    finally:
        if saved_entry is _MISSING:
            sys.modules.pop(module_name, None)
        else:
            sys.modules[module_name] = saved_entry
        if parent is not None:
            if saved_attr is _MISSING:
                parent.__dict__.pop(child, None)
            else:
                setattr(parent, child, saved_attr)


def is_restored(module_name: str, original: types.ModuleType) -> bool:
    """True when sys.modules and the parent package hold the original module again."""
    parent_name, _, child = module_name.rpartition(".")
    parent = sys.modules.get(parent_name) if parent_name else None
    return sys.modules.get(module_name) is original and (parent is None or parent.__dict__.get(child, original) is original)
