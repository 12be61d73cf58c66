import unittest

from .helpers import has, needs

if has("torch"):
    import torch
    from torch import nn

    from qrun_worker.quant import QuantLinear, TensorQuantizer, quant_matmul, quantizers, set_mode


def onnx_qdq(x, scale):
    """QuantizeLinear + DequantizeLinear as ONNX defines them: round half to even, saturate."""
    return torch.clamp(torch.round(x / scale), -128, 127) * scale


@needs("torch")
class TensorQuantizerTest(unittest.TestCase):
    def test_per_tensor_matches_onnx_qdq_with_scale_amax_over_127(self):
        q = TensorQuantizer()
        q.set_amax(torch.tensor(2.0))
        self.assertAlmostEqual(float(q.scale), 2.0 / 127, places=9)
        x = torch.linspace(-3, 3, 1001)
        torch.testing.assert_close(q(x), onnx_qdq(x, q.scale), atol=1e-6, rtol=0)
        self.assertLessEqual(float(q(x).max()), 2.0 + 1e-6)  # saturates at 127 * scale

    def test_straight_through_gradient_inside_the_range_zero_outside(self):
        q = TensorQuantizer()
        q.set_amax(torch.tensor(1.0))
        x = torch.tensor([-2.0, -0.5, 0.25, 0.9, 1.5], requires_grad=True)
        q(x).sum().backward()
        self.assertEqual(x.grad.tolist(), [0.0, 1.0, 1.0, 1.0, 0.0])

    def test_per_channel_weight_amax_follows_the_weight(self):
        q = TensorQuantizer(axis=0)
        w = torch.tensor([[0.5, -1.0], [0.1, 0.2]])
        expected = torch.stack([onnx_qdq(w[0], torch.tensor(1.0 / 127)), onnx_qdq(w[1], torch.tensor(0.2 / 127))])
        torch.testing.assert_close(q(w), expected, atol=1e-7, rtol=0)
        q.freeze(w)
        torch.testing.assert_close(q.amax, torch.tensor([1.0, 0.2]))

    def test_modes_and_uncalibrated_use(self):
        q = TensorQuantizer()
        x = torch.randn(5)
        q.mode = "off"
        self.assertIs(q(x), x)
        seen = []
        q.calibrator = type("C", (), {"collect": lambda self, t: seen.append(t)})()
        q.mode = "calib"
        self.assertIs(q(x), x)
        self.assertEqual(len(seen), 1)
        q.mode = "quant"
        with self.assertRaisesRegex(RuntimeError, "before calibration"):
            q(x)

    def test_zero_range_gets_scale_one(self):
        q = TensorQuantizer()
        q.set_amax(torch.tensor(0.0))
        self.assertEqual(float(q.scale), 1.0)


@needs("torch")
class QuantLinearTest(unittest.TestCase):
    def test_same_state_dict_as_nn_linear(self):
        torch.manual_seed(0)
        plain = nn.Linear(4, 3)
        quant = QuantLinear(4, 3)
        self.assertEqual(list(quant.state_dict()), list(plain.state_dict()))
        quant.load_state_dict(plain.state_dict())
        set_mode(quant, "off")
        x = torch.randn(2, 4)
        torch.testing.assert_close(quant(x), plain(x))
        self.assertEqual(sorted(quantizers(quant)), ["input_quantizer", "weight_quantizer"])

    def test_matmul_quantizers_are_created_on_the_owner(self):
        owner = nn.Module()
        a, b = torch.randn(2, 3), torch.randn(3, 2)
        torch.testing.assert_close(quant_matmul(owner, "Attn.forward.matmul0", a, b), a @ b)
        self.assertEqual(sorted(quantizers(owner)), ["qrun_attn_forward_matmul0_a", "qrun_attn_forward_matmul0_b"])
        self.assertTrue(all(q.mode == "off" for q in quantizers(owner).values()))
        torch.testing.assert_close(quant_matmul("not a module", "x", a, b), a @ b)
