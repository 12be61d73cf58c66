"""Module-swap quantization (qrun_worker/module_swap.py) on a small CNN with what TensorRT has
rules for: Conv + BatchNorm, a residual block, a projection shortcut, a Concat of two resolutions,
a Linear head. Needs torch (and onnx for the export; onnxruntime for its numeric check)."""
import os
import tempfile
import unittest

from .helpers import has, needs

if has("torch"):
    import torch
    from torch import nn

    from qrun_worker import module_swap as MS
    from qrun_worker.quant import QuantLinear, TensorQuantizer, quantizers, set_mode

    class Block(nn.Module):
        def __init__(self, c, project=False):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)
            self.proj = nn.Conv2d(c, c, 1) if project else None

        def forward(self, x):
            y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            shortcut = self.proj(x) if self.proj is not None else x
            return torch.relu(y + shortcut)

    class TinyFPN(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
            self.block1 = Block(8)
            self.down = nn.Sequential(nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
            self.block2 = Block(8, project=True)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.fuse = nn.Conv2d(16, 8, 3, padding=1)
            self.head = nn.Linear(8, 3)

        def forward(self, x):
            c1 = self.block1(self.stem(x))
            u = self.up(self.block2(self.down(c1)))
            y = torch.relu(self.fuse(torch.cat([c1, u], dim=1)))
            return self.head(y.mean(dim=(2, 3)))


def trained_like_model():
    """TinyFPN with non-trivial BatchNorm statistics (a few training-mode passes)."""
    torch.manual_seed(0)
    model = TinyFPN()
    model.train()
    with torch.no_grad():
        for _ in range(5):
            model(torch.rand(8, 3, 16, 16) * 2)
    return model.eval()


def calib_batches():
    g = torch.Generator().manual_seed(1)
    return [torch.rand(4, 3, 16, 16, generator=g) for _ in range(3)]


@needs("torch")
class ModuleSwapTest(unittest.TestCase):
    def test_batchnorm_folded_into_conv_same_outputs(self):
        model = trained_like_model()
        x = torch.rand(2, 3, 16, 16)
        gm, bn = MS.fold_batchnorm(model)
        self.assertEqual(bn, {"folded": 6, "kept": 0})
        self.assertFalse(any(isinstance(m, nn.BatchNorm2d) for m in gm.modules()))
        with torch.no_grad():
            torch.testing.assert_close(gm(x), model(x), atol=1e-5, rtol=1e-5)

    def test_batchnorm_after_a_shared_conv_output_is_kept(self):
        class TwoReaders(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 1)
                self.bn = nn.BatchNorm2d(4)

            def forward(self, x):
                y = self.conv(x)
                return self.bn(y) + y

        _, bn = MS.fold_batchnorm(TwoReaders())
        self.assertEqual(bn, {"folded": 0, "kept": 1})

    def test_conv_and_linear_swapped_state_dict_keys_unchanged(self):
        gm, _ = MS.fold_batchnorm(trained_like_model())
        keys = set(gm.state_dict())
        swapped = MS.swap_modules(gm, exclude=[r"^head$"])
        self.assertIn("fuse", swapped)
        self.assertNotIn("head", swapped)
        self.assertIsInstance(gm.fuse, MS.QuantConv2d)
        self.assertEqual(type(gm.head), nn.Linear)
        self.assertEqual(set(gm.state_dict()), keys)  # quantizer buffers are not persistent
        self.assertEqual(gm.fuse.weight_quantizer.axis, 0)
        self.assertFalse(gm.fuse.input_quantizer.per_channel)

    def test_residual_shortcuts_and_a_shared_concat_quantizer(self):
        gm, info = MS.prepare(trained_like_model())
        self.assertEqual(len(info["residualAdds"]), 2)
        self.assertEqual(info["concats"], ["cat"])
        # The identity shortcut (block1: x) and the projection shortcut (block2: the 1x1 conv, the
        # shorter branch) are quantized, not the conv branch y: the graph's code says which.
        code = gm.code
        self.assertRegex(code, r"qrun_residual_0 = self\.qrun_residual_0\(stem_2\)")  # block1's input: stem's ReLU
        self.assertRegex(code, r"qrun_residual_1 = self\.qrun_residual_1\(block2_proj\)")
        # Both Concat inputs and the conv reading the Concat use one quantizer object.
        self.assertEqual(code.count("self.qrun_concat_0("), 2)
        self.assertIs(gm.fuse.input_quantizer, gm.qrun_concat_0)

    def test_an_add_of_a_parameter_is_not_a_residual(self):
        class PlusTable(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 1)
                self.table = nn.Parameter(torch.zeros(1, 4, 1, 1))

            def forward(self, x):
                return self.conv(x) + self.table

        _, info = MS.prepare(PlusTable())
        self.assertEqual(info["residualAdds"], [])

    def test_calibrated_concat_range_covers_every_input(self):
        model = trained_like_model()
        gm, _ = MS.prepare(model)
        # The Concat's inputs in the float model: block1's output (32x32) and the upsampled block2.
        ranges = {}
        for name in ("block1", "up"):
            getattr(model, name).register_forward_hook(lambda m, i, o, name=name: ranges.__setitem__(name, max(ranges.get(name, 0.0), float(o.abs().max()))))
        with torch.no_grad():
            for b in calib_batches():
                model(b)
        MS.calibrate(gm, calib_batches(), method="max")
        self.assertNotAlmostEqual(ranges["block1"], ranges["up"], places=3)  # the inputs differ in range
        self.assertAlmostEqual(float(gm.qrun_concat_0.amax), max(ranges.values()), places=4)
        self.assertTrue(all(q.has_amax for n, q in quantizers(gm).items() if not q.per_channel))

    def test_fake_quant_close_to_float_and_trainable(self):
        model = trained_like_model()
        gm, _ = MS.prepare(model)
        MS.calibrate(gm, calib_batches(), method="percentile")
        x = calib_batches()[0]
        with torch.no_grad():
            ref, fq = model(x), gm(x)
        self.assertFalse(torch.equal(ref, fq))  # quantization does something
        self.assertLess(float((ref - fq).abs().max()), 0.1 * float(ref.abs().max()) + 1e-3)
        # One QAT step: gradients reach the weights through the fake quantizers (straight through).
        gm.train()
        opt = torch.optim.SGD(gm.parameters(), lr=0.1)
        before = gm.fuse.weight.detach().clone()
        loss = (gm(x) - ref).pow(2).mean()
        loss.backward()
        self.assertGreater(float(gm.fuse.weight.grad.abs().sum()), 0)
        opt.step()
        self.assertFalse(torch.equal(before, gm.fuse.weight.detach()))

    @needs("torch", "onnx")
    def test_export_qdq_layout_like_qdq_insert(self):
        import numpy as np
        import onnx
        from onnx import numpy_helper

        gm, _ = MS.prepare(trained_like_model())
        MS.calibrate(gm, calib_batches(), method="max")
        path = os.path.join(tempfile.mkdtemp(), "model.onnx")
        proto, counts = MS.export_qdq_model(gm, calib_batches()[0], path)
        self.assertEqual(counts["weights"], 9)  # 8 convs + the head
        g = proto.graph
        inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        prod = {o: n for n in g.node for o in n.output}
        for n in g.node:
            if n.op_type in ("Conv", "Gemm"):
                x_dq, w_dq = prod[n.input[0]], prod[n.input[1]]
                self.assertEqual((x_dq.op_type, w_dq.op_type), ("DequantizeLinear", "DequantizeLinear"), n.name)
                self.assertEqual(inits[w_dq.input[0]].dtype, np.int8, n.name)  # int8 weight initializer
                self.assertEqual(inits[w_dq.input[1]].shape, (inits[w_dq.input[0]].shape[0],), n.name)  # per channel
        adds = [n for n in g.node if n.op_type == "Add" and all(i not in inits for i in n.input)]
        self.assertEqual(len(adds), 2)
        for a in adds:  # one input dequantized (the shortcut), the other straight from a Conv
            kinds = sorted(prod[i].op_type for i in a.input)
            self.assertEqual(kinds, ["Conv", "DequantizeLinear"], a.name)
        cat = next(n for n in g.node if n.op_type == "Concat")
        scales = [float(inits[prod[i].input[1]]) for i in cat.input]
        readers = [n for n in g.node if cat.output[0] in n.input]
        scales += [float(inits[n.input[1]]) for n in readers if n.op_type == "QuantizeLinear"]
        self.assertEqual(len(scales), 3)
        self.assertEqual(len(set(scales)), 1, scales)  # inputs and output share one scale
        self.assertAlmostEqual(scales[0], float(gm.qrun_concat_0.amax) / 127, places=7)
        if has("onnxruntime"):
            import onnxruntime as ort

            x = calib_batches()[1]
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            got = sess.run(None, {"pixel_values": x.numpy()})[0]
            with torch.no_grad():
                want = gm(x).numpy()
            self.assertLess(float(np.abs(got - want).max()), 0.05)
            self.assertTrue((got.argmax(-1) == want.argmax(-1)).all())


if __name__ == "__main__":
    unittest.main()
