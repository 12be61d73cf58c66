"""AST rules: each rewrites the source of a modeling module (say transformers' modeling_bert.py)
before it is compiled into a fresh module object (patching.py). A rule says what it changed, or why
it did not apply; it never fails silently. Pure Python: no torch needed here.

The rewritten code calls two names that patching.py puts into the patched module's namespace:
  _qrun_QuantLinear(in, out, ...)      an nn.Linear subclass with input and weight quantizers
  _qrun_matmul(owner, site, a, b)      torch.matmul with a quantizer on each operand, kept on `owner`
"""
from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass, field

QUANT_LINEAR = "_qrun_QuantLinear"
QUANT_MATMUL = "_qrun_matmul"

with open(os.path.join(os.path.dirname(__file__), "rules.json"), encoding="utf-8") as _f:
    RULE_INFO: dict[str, dict] = {r["name"]: r for r in json.load(_f)}


@dataclass
class RuleOutcome:
    name: str
    applied: bool
    changes: int = 0
    detail: str = ""
    reason: str = ""
    sites: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        out: dict = {"applied": self.applied, "changes": self.changes}
        if self.applied:
            out["detail"] = self.detail
        else:
            out["reason"] = self.reason
        if self.sites:
            out["sites"] = self.sites
        return out


def _dotted(node: ast.AST) -> str | None:
    """`torch.nn.Linear` for Attribute(Attribute(Name(torch), nn), Linear); None for anything else."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _imported_names(tree: ast.Module, module: str, name: str) -> set[str]:
    """Local names bound to `module.name` by `from module import name [as x]`."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == module:
            for alias in node.names:
                if alias.name == name:
                    out.add(alias.asname or alias.name)
    return out


def _copy_loc(new: ast.AST, old: ast.AST) -> ast.AST:
    ast.copy_location(new, old)
    return ast.fix_missing_locations(new)


# --- quantize-linear -------------------------------------------------------------------------------


def quantize_linear(tree: ast.Module) -> RuleOutcome:
    linear_names = {"nn.Linear", "torch.nn.Linear"} | _imported_names(tree, "torch.nn", "Linear")
    sites: list[str] = []

    class Rewrite(ast.NodeTransformer):
        def __init__(self) -> None:
            self.scope: list[str] = []

        def _scoped(self, node):  # ClassDef / FunctionDef: remember where we are for site names
            self.scope.append(node.name)
            self.generic_visit(node)
            self.scope.pop()
            return node

        visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _scoped

        def visit_Call(self, node: ast.Call):
            self.generic_visit(node)
            if _dotted(node.func) in linear_names:
                sites.append(f"{'.'.join(self.scope) or '<module>'}:{node.lineno}")
                node.func = _copy_loc(ast.Name(id=QUANT_LINEAR, ctx=ast.Load()), node.func)
            return node

    Rewrite().visit(tree)
    if not sites:
        return RuleOutcome("quantize-linear", False, reason="no nn.Linear(...) construction in the module")
    return RuleOutcome("quantize-linear", True, len(sites), f"{len(sites)} nn.Linear constructions now QuantLinear", sites=sites)


# --- quantize-matmul -------------------------------------------------------------------------------

OWNER_PARAMS = ("self", "module")


def quantize_matmul(tree: ast.Module) -> RuleOutcome:
    """Rewrites matmuls whose function has an owner (first parameter `self` or `module`, the nn.Module
    that will hold the operands' quantizers). transformers ≥ 4.48 computes eager attention in a
    module-level `eager_attention_forward(module, query, key, value, ...)`; older releases in
    `SelfAttention.forward(self, ...)`. Both are covered."""
    sites: list[str] = []
    skipped: list[str] = []

    class Rewrite(ast.NodeTransformer):
        def __init__(self) -> None:
            self.scope: list[str] = []
            self.owner: list[str | None] = []
            self.count: list[int] = []

        def visit_ClassDef(self, node: ast.ClassDef):
            self.scope.append(node.name)
            self.generic_visit(node)
            self.scope.pop()
            return node

        def _function(self, node):
            args = node.args.posonlyargs + node.args.args
            first = args[0].arg if args else None
            self.scope.append(node.name)
            self.owner.append(first if first in OWNER_PARAMS else None)
            self.count.append(0)
            self.generic_visit(node)
            self.scope.pop()
            self.owner.pop()
            self.count.pop()
            return node

        visit_FunctionDef = visit_AsyncFunctionDef = _function

        def _site(self, node: ast.AST, a: ast.expr, b: ast.expr) -> ast.AST:
            where = f"{'.'.join(self.scope) or '<module>'}:{node.lineno}"  # type: ignore[attr-defined]
            owner = self.owner[-1] if self.owner else None
            if owner is None:
                skipped.append(where)
                return node
            site = f"{'.'.join(self.scope)}.matmul{self.count[-1]}"
            self.count[-1] += 1
            sites.append(f"{site} ({where})")
            call = ast.Call(
                func=ast.Name(id=QUANT_MATMUL, ctx=ast.Load()),
                args=[ast.Name(id=owner, ctx=ast.Load()), ast.Constant(value=site), a, b],
                keywords=[],
            )
            return _copy_loc(call, node)

        def visit_Call(self, node: ast.Call):
            self.generic_visit(node)
            if _dotted(node.func) == "torch.matmul" and len(node.args) == 2 and not node.keywords:
                return self._site(node, node.args[0], node.args[1])
            return node

        def visit_BinOp(self, node: ast.BinOp):
            self.generic_visit(node)
            if isinstance(node.op, ast.MatMult):
                return self._site(node, node.left, node.right)
            return node

    Rewrite().visit(tree)
    note = f"; left float (no self/module owner): {', '.join(skipped)}" if skipped else ""
    if not sites:
        reason = "no torch.matmul(a, b) or a @ b inside a method or an attention function"
        return RuleOutcome("quantize-matmul", False, reason=reason + note)
    return RuleOutcome("quantize-matmul", True, len(sites), f"{len(sites)} matmuls with quantized operands{note}", sites=sites)


# --- cumsum-int-to-float ---------------------------------------------------------------------------


def cumsum_int_to_float(tree: ast.Module) -> RuleOutcome:
    """TensorRT has no integer CumSum; RoBERTa's create_position_ids_from_input_ids runs
    `torch.cumsum(mask, dim=1)` on an int mask. The rewrite is
    `torch.cumsum(mask.float(), dim=1).to(mask.dtype)`: exact for counts below 2**24."""
    sites: list[str] = []
    refused: list[str] = []

    class Rewrite(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call):
            self.generic_visit(node)
            if _dotted(node.func) != "torch.cumsum" or not node.args:
                return node
            x = node.args[0]
            # x is evaluated twice after the rewrite: only plain names and attributes are safe.
            if _dotted(x) is None:
                refused.append(f"line {node.lineno}")
                return node
            as_float = ast.Call(func=ast.Attribute(value=x, attr="float", ctx=ast.Load()), args=[], keywords=[])
            inner = ast.Call(func=node.func, args=[as_float, *node.args[1:]], keywords=node.keywords)
            dtype = ast.Attribute(value=ast.parse(_dotted(x), mode="eval").body, attr="dtype", ctx=ast.Load())
            back = ast.Call(func=ast.Attribute(value=inner, attr="to", ctx=ast.Load()), args=[dtype], keywords=[])
            sites.append(f"line {node.lineno}")
            return _copy_loc(back, node)

    Rewrite().visit(tree)
    note = f"; refused (argument is not a plain name): {', '.join(refused)}" if refused else ""
    if not sites:
        return RuleOutcome("cumsum-int-to-float", False, reason="no torch.cumsum(x, ...) in the module" + note)
    return RuleOutcome("cumsum-int-to-float", True, len(sites), f"{len(sites)} cumsum calls run in float{note}", sites=sites)


RULES = {
    "quantize-linear": quantize_linear,
    "quantize-matmul": quantize_matmul,
    "cumsum-int-to-float": cumsum_int_to_float,
}

assert set(RULES) == set(RULE_INFO), "rules.json and RULES disagree"


def apply_rules(source: str, names: list[str]) -> tuple[ast.Module, list[RuleOutcome]]:
    """Parses `source` and applies the named rules in order; unknown names are an error."""
    unknown = [n for n in names if n not in RULES]
    if unknown:
        raise ValueError(f"unknown AST rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
    tree = ast.parse(source)
    outcomes = [RULES[name](tree) for name in names]
    ast.fix_missing_locations(tree)
    return tree, outcomes
