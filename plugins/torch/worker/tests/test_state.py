import os
import tempfile
import unittest

import numpy as np

from qrun_worker.state import load_f32_tensors, read_state, save_f32_tensors, write_state

from .helpers import needs


class QuantStateFileTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.tensors = {"b.amax": np.float32(2.5), "a.weight_quantizer": np.arange(6, dtype=np.float32).reshape(2, 3)}

    def test_round_trip_and_identical_bytes(self):
        a, b = os.path.join(self.dir, "a.safetensors"), os.path.join(self.dir, "b.safetensors")
        save_f32_tensors(a, self.tensors, {"qrun": "test"})
        save_f32_tensors(b, dict(reversed(list(self.tensors.items()))), {"qrun": "test"})
        with open(a, "rb") as fa, open(b, "rb") as fb:
            self.assertEqual(fa.read(), fb.read())
        back = load_f32_tensors(a)
        self.assertEqual(set(back), set(self.tensors))
        np.testing.assert_array_equal(back["a.weight_quantizer"], self.tensors["a.weight_quantizer"])
        self.assertEqual(back["b.amax"].shape, ())

    @needs("safetensors")
    def test_the_safetensors_library_reads_it(self):
        from safetensors.numpy import load_file

        path = os.path.join(self.dir, "c.safetensors")
        save_f32_tensors(path, self.tensors)
        np.testing.assert_array_equal(load_file(path)["a.weight_quantizer"], self.tensors["a.weight_quantizer"])

    def test_state_json_is_sorted_and_checked(self):
        write_state(self.dir, {"format": 1, "b": 1, "a": [1]})
        with open(os.path.join(self.dir, "state.json"), encoding="utf-8") as f:
            text = f.read()
        self.assertLess(text.index('"a"'), text.index('"b"'))
        self.assertEqual(read_state(self.dir)["a"], [1])
        write_state(self.dir, {"format": 99})
        with self.assertRaisesRegex(ValueError, "format 99"):
            read_state(self.dir)
