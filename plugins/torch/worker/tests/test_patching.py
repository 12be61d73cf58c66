import importlib
import inspect
import os
import sys
import unittest

from .helpers import has, needs

if has("torch"):
    import torch

    from qrun_worker.model_io import discover_quantizers, excluded_names
    from qrun_worker.patching import is_restored, patched_module
    from qrun_worker.quant import QuantLinear, TensorQuantizer, quantizers

MODULE = "tests.tiny_modeling"


@needs("torch")
class PatchedModuleTest(unittest.TestCase):
    def setUp(self):
        self.original = importlib.import_module(MODULE)
        with open(self.original.__file__, encoding="utf-8") as f:
            self.file_text = f.read()
        self.functions = {n: f.__code__ for n, f in vars(self.original).items() if inspect.isfunction(f)}

    def assert_restored(self):
        self.assertIs(sys.modules[MODULE], self.original)
        self.assertTrue(is_restored(MODULE, self.original))
        self.assertIs(importlib.import_module("tests").tiny_modeling, self.original)
        self.assertEqual(inspect.getsource(self.original), self.file_text)
        self.assertEqual({n: f.__code__ for n, f in vars(self.original).items() if inspect.isfunction(f)}, self.functions)
        fresh = self.original.TinyForSequenceClassification()
        self.assertFalse(any(isinstance(m, (QuantLinear, TensorQuantizer)) for m in fresh.modules()))

    def test_patched_inside_original_after(self):
        with patched_module(MODULE, ["quantize-linear", "quantize-matmul", "cumsum-int-to-float"]) as pm:
            self.assertIs(sys.modules[MODULE], pm.module)
            self.assertIsNot(pm.module, self.original)
            self.assertEqual(pm.module.__file__, self.original.__file__)
            torch.manual_seed(0)
            model = pm.module.TinyForSequenceClassification()
            self.assertIn("_qrun_matmul(module,", pm.patched_source)
        self.assert_restored()
        # The model built inside keeps its quantizers afterwards.
        discover_quantizers(model, model.config)
        names = list(quantizers(model))
        self.assertEqual(sum(n.endswith("input_quantizer") for n in names), 2 * 6 + 1)
        self.assertEqual(sum("matmul" in n for n in names), 2 * 4)  # 2 layers × 2 matmuls × 2 operands

    def test_restored_when_the_block_raises(self):
        with self.assertRaises(KeyError):
            with patched_module(MODULE, ["quantize-linear"]):
                raise KeyError("boom")
        self.assert_restored()

    def test_unpatched_numbers_are_unchanged_with_quantizers_off(self):
        torch.manual_seed(0)
        plain = self.original.TinyForSequenceClassification()
        with patched_module(MODULE, ["quantize-linear", "quantize-matmul", "cumsum-int-to-float"]) as pm:
            model = pm.module.TinyForSequenceClassification()
        model.load_state_dict(plain.state_dict())
        discover_quantizers(model, model.config)
        ids = torch.tensor([[1, 4, 9, 2, 0, 0]])
        mask = (ids != 0).long()
        torch.testing.assert_close(model(ids, mask).logits, plain(ids, mask).logits)

    def test_exclusions_match_the_owning_module(self):
        names = ["classifier.input_quantizer", "layers.0.query.weight_quantizer", "layers.0.attention.qrun_x_a"]
        self.assertEqual(excluded_names(names, ["^classifier$", r"attention$"]), {"classifier.input_quantizer", "layers.0.attention.qrun_x_a"})
