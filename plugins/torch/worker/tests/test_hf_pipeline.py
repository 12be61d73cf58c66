"""The worker's methods end to end on the shipped model (models/bert-langid): load, patch (with the
original module restored), calibrate, a short QAT, export. Needs torch, transformers, tokenizers,
onnx (and onnxruntime for the ONNX-vs-torch check): run it on the GPU machine
(scripts/device/run-qat.sh), where the full `qrun recipes/bert-int8-qat.yaml` runs too."""
import glob
import hashlib
import inspect
import json
import os
import shutil
import sys
import tempfile
import unittest

from .helpers import REPO, has, needs

MODEL = os.path.join(REPO, "models", "bert-langid")
DATA = os.path.join(REPO, "data", "langid")


def tokenized(name, path, limit):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
    rows = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()][:limit]
    return {"name": name, "maxLength": 128, "padId": 0, "labels": sorted({r["label"] for r in rows}),
            "samples": [{"ids": tok.encode(r["text"]).ids, "label": r["label"]} for r in rows]}


def digests(folder):
    out = {}
    for f in sorted(glob.glob(os.path.join(folder, "**", "*"), recursive=True)):
        if os.path.isfile(f):
            with open(f, "rb") as fh:
                out[os.path.relpath(f, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


@needs("torch", "transformers", "tokenizers", "onnx")
class HfPipelineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from qrun_worker import methods

        cls.m = methods
        cls.dir = tempfile.mkdtemp(prefix="qrun-worker-")
        cls.data = os.path.join(cls.dir, "datasets")
        os.makedirs(cls.data)
        for name, file, limit in (("calibration", "calib.jsonl", 128), ("train", "train.jsonl", 256), ("evaluation", "eval.jsonl", 256)):
            with open(os.path.join(cls.data, f"{name}.json"), "w") as f:
                json.dump(tokenized(name, os.path.join(DATA, file), limit), f)
        cls.events = []
        emit = lambda message, **kw: cls.events.append(message)
        cls.emit = staticmethod(emit)
        d = lambda name: os.path.join(cls.dir, name)
        cls.load = methods.load({"modelDir": MODEL, "outDir": d("load")}, emit)
        cls.patch = methods.patch({"stateDir": d("load"), "outDir": d("patch"), "rules": ["quantize-linear", "quantize-matmul", "cumsum-int-to-float"], "exclude": []}, emit)
        cal = {"stateDir": d("patch"), "datasetsDir": cls.data, "data": "calibration", "method": "percentile", "percentile": 99.99, "samples": 0, "batchSize": 16, "bins": None, "device": "auto"}
        cls.calibrate = methods.calibrate({**cal, "outDir": d("calibrate")}, emit)
        qat = {"stateDir": d("calibrate"), "datasetsDir": cls.data, "data": "train", "epochs": 1, "learningRate": 2e-5, "batchSize": 32, "seed": 42,
               "temperature": 2.0, "distillationWeight": 1.0, "weightDecay": 0.01, "warmupRatio": 0.1, "samples": 0, "checkData": "evaluation", "device": "auto"}
        cls.qat_params = qat
        cls.qat = methods.qat({**qat, "outDir": d("qat")}, emit)
        cls.export = methods.export({"stateDir": d("qat"), "datasetsDir": cls.data, "outDir": d("export"), "opset": 17, "verifyData": "evaluation"}, emit)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_load_writes_the_hf_model_and_state(self):
        self.assertEqual(self.load["architecture"], "BertForSequenceClassification")
        self.assertEqual(self.load["modelingModule"], "transformers.models.bert.modeling_bert")
        self.assertEqual(self.load["outputShape"], [1, 9])

    def test_load_is_byte_deterministic(self):
        again = os.path.join(self.dir, "load-again")
        self.m.load({"modelDir": MODEL, "outDir": again}, self.emit)
        self.assertEqual(digests(again), digests(os.path.join(self.dir, "load")))

    def test_patch_counts_and_restores_the_original_module(self):
        import torch
        import transformers
        from transformers.models.bert import modeling_bert

        from qrun_worker.quant import TensorQuantizer

        self.assertEqual(self.patch["linearQuantizers"], 2 * (4 * 6 + 2))  # input + weight of 26 Linear
        self.assertEqual(self.patch["matmulQuantizers"], 2 * 2 * 4)  # 2 operands × 2 matmuls × 4 layers
        self.assertTrue(self.patch["restored"])
        self.assertIs(sys.modules["transformers.models.bert.modeling_bert"], modeling_bert)
        self.assertIs(transformers.models.bert.modeling_bert, modeling_bert)
        source = inspect.getsource(modeling_bert)
        self.assertNotIn("_qrun_", source)
        for fn in vars(modeling_bert).values():
            if inspect.isfunction(fn) and fn.__module__ == modeling_bert.__name__:
                self.assertNotIn("_qrun_", fn.__code__.co_names, fn.__name__)
        fresh = transformers.BertForSequenceClassification.from_pretrained(MODEL, attn_implementation="eager")
        self.assertFalse(any(isinstance(x, TensorQuantizer) for x in fresh.modules()))
        self.assertIs(type(fresh.bert.encoder.layer[0].attention.self.query), torch.nn.Linear)
        patched = glob.glob(os.path.join(self.dir, "patch", "patched", "*.py"))
        self.assertEqual([os.path.basename(p) for p in patched], ["modeling_bert.py"])
        self.assertIn("_qrun_matmul(", open(patched[0]).read())

    def test_calibration_keeps_the_model_close_to_fp32(self):
        self.assertEqual(self.calibrate["activationQuantizers"], 26 + 16)
        self.assertEqual(self.calibrate["unreached"], [])
        self.assertGreaterEqual(self.calibrate["calibrationAgreement"], 0.95)

    def test_qat_reports_and_is_deterministic(self):
        self.assertEqual(self.qat["steps"], 8)
        self.assertGreaterEqual(self.qat["checkAgreementAfter"], 0.95)
        again = os.path.join(self.dir, "qat-again")
        self.m.qat({**self.qat_params, "outDir": again}, self.emit)
        self.assertEqual(digests(again), digests(os.path.join(self.dir, "qat")))

    def test_export_has_qdq_with_calibrated_scales_and_matches_torch(self):
        e = self.export
        self.assertTrue(e["scalesMatchAmax"])
        self.assertEqual(e["quantizedNodes"], 4 * 8 + 2)
        self.assertEqual(e["weightTensors"], 4 * 6 + 2)
        self.assertGreaterEqual(e["opset"], 13)
        if has("onnxruntime"):
            self.assertGreaterEqual(e["ortArgmaxAgreement"], 0.98)

    def test_export_is_byte_deterministic(self):
        again = os.path.join(self.dir, "export-again")
        self.m.export({"stateDir": os.path.join(self.dir, "qat"), "datasetsDir": self.data, "outDir": again, "opset": 17, "verifyData": None}, self.emit)
        self.assertEqual(digests(again), digests(os.path.join(self.dir, "export")))

    def test_export_scales_equal_amax_over_127_in_the_file(self):
        import numpy as np
        import onnx

        from qrun_worker.onnx_qdq import activation_scales
        from qrun_worker.state import load_f32_tensors

        amax = load_f32_tensors(os.path.join(self.dir, "qat", "quant_state.safetensors"))
        want = sorted({float(np.float32(v) / np.float32(127)) for k, v in amax.items() if v.ndim == 0})
        got = sorted(set(activation_scales(onnx.load(os.path.join(self.dir, "export", "model.onnx")))))
        self.assertEqual(got, want)
