import os
import tempfile
import unittest

from .helpers import has, needs

if has("torch", "onnx"):
    import numpy as np
    import onnx
    import torch

    from qrun_worker.exporting import export_qdq, freeze_weight_quantizers, scales_match_amax
    from qrun_worker.methods import _AbsMax
    from qrun_worker.model_io import discover_quantizers
    from qrun_worker.onnx_qdq import qdq_summary
    from qrun_worker.patching import patched_module
    from qrun_worker.quant import quantizers, set_mode

NAMES = ["input_ids", "attention_mask"]


def calibrated_tiny_model():
    with patched_module("tests.tiny_modeling", ["quantize-linear", "quantize-matmul", "cumsum-int-to-float"]) as pm:
        torch.manual_seed(0)
        model = pm.module.TinyForSequenceClassification().eval()
    discover_quantizers(model, model.config)
    acts = {n: q for n, q in quantizers(model).items() if not q.per_channel}
    for q in acts.values():
        q.calibrator, q.mode = _AbsMax(), "calib"
    torch.manual_seed(1)
    with torch.no_grad():
        for _ in range(4):
            ids = torch.randint(1, 50, (3, 7))
            model(ids, torch.ones_like(ids))
    for q in acts.values():
        q.set_amax(q.calibrator.value)
        q.calibrator = None
    set_mode(model, "quant")
    freeze_weight_quantizers(model)
    return model


class Logits(torch.nn.Module if has("torch") else object):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, attention_mask):
        return self.inner(input_ids, attention_mask).logits


@needs("torch", "onnx")
class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.model = calibrated_tiny_model()
        ids = torch.tensor([[1, 5, 6, 7, 2], [1, 8, 9, 3, 2]])
        cls.args = (ids, torch.ones_like(ids))
        dynamic = {n: {0: "batch", 1: "sequence"} for n in NAMES}
        cls.path = os.path.join(cls.dir, "a.onnx")
        cls.proto, cls.counts = export_qdq(Logits(cls.model), cls.args, NAMES, ["logits"], dynamic, cls.path, 13)
        cls.path2 = os.path.join(cls.dir, "b.onnx")
        export_qdq(Logits(cls.model), cls.args, NAMES, ["logits"], dynamic, cls.path2, 13)

    def test_every_linear_and_attention_matmul_reads_dequantized_inputs(self):
        summary = qdq_summary(self.proto)
        # 2 layers × (q, k, v, attention output, intermediate, output, Q·Kᵀ, P·V) + classifier
        self.assertEqual(summary["quantizedNodes"], 2 * 8 + 1)
        self.assertEqual(summary["weightTensors"], 2 * 6 + 1)
        self.assertEqual(self.counts["weights"], 13)

    def test_weights_are_int8_initializers_feeding_matmul_directly(self):
        inits = {t.name: t for t in self.proto.graph.initializer}
        producer = {o: n for n in self.proto.graph.node for o in n.output}
        weight_dqs = [n for n in self.proto.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]
        self.assertEqual(len(weight_dqs), 13)
        for dq in weight_dqs:
            self.assertEqual(inits[dq.input[0]].data_type, onnx.TensorProto.INT8)
        self.assertFalse(any(n.op_type == "QuantizeLinear" and n.input[0] in inits for n in self.proto.graph.node))
        for n in self.proto.graph.node:
            if n.op_type == "Transpose":
                p = producer.get(n.input[0])
                self.assertFalse(p is not None and p.op_type == "DequantizeLinear" and p.input[0] in inits, "a weight transpose was left")

    def test_scales_are_amax_over_127(self):
        self.assertEqual(scales_match_amax(self.model, self.proto), (True, True))
        q = self.model.classifier.input_quantizer
        self.assertEqual(float(q.scale), float(np.float32(float(q.amax)) / np.float32(127)))

    def test_one_pair_per_consumer_with_its_own_initializers(self):
        scale_users = {}
        for n in self.proto.graph.node:
            if n.op_type == "QuantizeLinear":
                scale_users.setdefault(n.input[1], []).append(n.name)
        self.assertTrue(all(len(v) == 1 for v in scale_users.values()), scale_users)
        consumers = {}
        for n in self.proto.graph.node:
            for i in n.input:
                consumers.setdefault(i, []).append(n)
        for n in self.proto.graph.node:
            if n.op_type == "DequantizeLinear":
                self.assertLessEqual(len(consumers.get(n.output[0], [])), 1)

    def test_opset_and_dynamic_axes(self):
        self.assertGreaterEqual(max(o.version for o in self.proto.opset_import if o.domain in ("", "ai.onnx")), 13)
        dims = self.proto.graph.input[0].type.tensor_type.shape.dim
        self.assertEqual([d.dim_param for d in dims], ["batch", "sequence"])

    def test_export_bytes_are_deterministic(self):
        with open(self.path, "rb") as a, open(self.path2, "rb") as b:
            self.assertEqual(a.read(), b.read())

    @needs("onnxruntime")
    def test_onnxruntime_agrees_with_torch_fake_quant(self):
        import onnxruntime as ort

        session = ort.InferenceSession(self.path, providers=["CPUExecutionProvider"])
        ids = torch.tensor([[1, 4, 7, 9, 11, 13, 2]])
        got = session.run(None, {"input_ids": ids.numpy(), "attention_mask": np.ones_like(ids.numpy())})[0]
        with torch.no_grad():
            want = self.model(ids, torch.ones_like(ids)).logits.numpy()
        np.testing.assert_allclose(got, want, atol=0.05)
