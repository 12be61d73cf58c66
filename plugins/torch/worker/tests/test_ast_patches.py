import ast
import inspect
import json
import os
import unittest

from qrun_worker.ast_patches import QUANT_LINEAR, QUANT_MATMUL, RULE_INFO, RULES, apply_rules

from .helpers import WORKER_DIR

TINY = os.path.join(os.path.dirname(__file__), "tiny_modeling.py")


def source():
    with open(TINY, encoding="utf-8") as f:
        return f.read()


def calls_to(tree, name):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name]


class QuantizeLinearTest(unittest.TestCase):
    def test_every_linear_construction_becomes_quant_linear(self):
        tree, [outcome] = apply_rules(source(), ["quantize-linear"])
        self.assertTrue(outcome.applied)
        self.assertEqual(outcome.changes, 7)  # q, k, v, attention output, intermediate, output, classifier
        self.assertEqual(len(calls_to(tree, QUANT_LINEAR)), 7)
        self.assertNotIn("nn.Linear(", ast.unparse(tree))

    def test_isinstance_checks_are_left_alone(self):
        src = "from torch import nn\ndef f(m):\n    return isinstance(m, nn.Linear)\n"
        tree, [outcome] = apply_rules(src, ["quantize-linear"])
        self.assertFalse(outcome.applied)
        self.assertIn("no nn.Linear", outcome.reason)
        self.assertEqual(ast.unparse(tree), ast.unparse(ast.parse(src)))

    def test_imported_linear_name(self):
        tree, [outcome] = apply_rules("from torch.nn import Linear as L\nx = L(2, 3)\n", ["quantize-linear"])
        self.assertEqual(outcome.changes, 1)
        self.assertIn(f"{QUANT_LINEAR}(2, 3)", ast.unparse(tree))


class QuantizeMatmulTest(unittest.TestCase):
    def test_attention_matmuls_get_the_module_as_owner(self):
        tree, [outcome] = apply_rules(source(), ["quantize-matmul"])
        self.assertEqual(outcome.changes, 2)
        calls = calls_to(tree, QUANT_MATMUL)
        self.assertEqual([c.args[0].id for c in calls], ["module", "module"])
        self.assertEqual(sorted(c.args[1].value for c in calls), ["eager_attention_forward.matmul0", "eager_attention_forward.matmul1"])

    def test_operator_form_in_a_method_and_a_free_function(self):
        src = "class A:\n    def f(self, a, b):\n        return a @ b\ndef g(a, b):\n    return a @ b\n"
        tree, [outcome] = apply_rules(src, ["quantize-matmul"])
        self.assertEqual(outcome.changes, 1)
        self.assertIn("left float (no self/module owner): g:5", outcome.detail)
        self.assertIn(f"{QUANT_MATMUL}(self, 'A.f.matmul0', a, b)", ast.unparse(tree))

    def test_no_matmul_gives_a_reason(self):
        _, [outcome] = apply_rules("def f(x):\n    return x\n", ["quantize-matmul"])
        self.assertFalse(outcome.applied)
        self.assertTrue(outcome.reason)


class CumsumTest(unittest.TestCase):
    def test_int_cumsum_runs_in_float_and_casts_back(self):
        tree, [outcome] = apply_rules(source(), ["cumsum-int-to-float"])
        self.assertEqual(outcome.changes, 1)
        self.assertIn("torch.cumsum(mask.float(), dim=1).to(mask.dtype)", ast.unparse(tree))

    def test_refuses_an_expression_it_would_evaluate_twice(self):
        _, [outcome] = apply_rules("import torch\ny = torch.cumsum(f(x), 0)\n", ["cumsum-int-to-float"])
        self.assertFalse(outcome.applied)
        self.assertIn("refused", outcome.reason)


class RulesTest(unittest.TestCase):
    def test_unknown_rule_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "unknown AST rule"):
            apply_rules("x = 1\n", ["nope"])

    def test_rules_json_lists_every_rule_with_a_version(self):
        with open(os.path.join(WORKER_DIR, "qrun_worker", "rules.json"), encoding="utf-8") as f:
            listed = json.load(f)
        self.assertEqual([r["name"] for r in listed], list(RULES))
        self.assertTrue(all(r["version"] and r["description"] for r in RULE_INFO.values()))

    def test_patched_source_still_compiles(self):
        tree, _ = apply_rules(source(), list(RULES))
        compile(tree, "<patched>", "exec")
        self.assertTrue(inspect.isfunction(eval(compile("lambda: 1", "<x>", "eval"))))
