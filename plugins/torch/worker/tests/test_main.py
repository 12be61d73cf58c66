import json
import os
import subprocess
import sys
import unittest

from qrun_worker import WORKER_VERSION

from .helpers import WORKER_DIR


def worker(*requests, stdin=None):
    env = dict(os.environ, PYTHONPATH=WORKER_DIR, PYTHONDONTWRITEBYTECODE="1")
    text = stdin if stdin is not None else "".join(json.dumps(r) + "\n" for r in requests)
    r = subprocess.run([sys.executable, "-m", "qrun_worker"], input=text, capture_output=True, text=True, env=env, cwd=WORKER_DIR, timeout=60)
    return r.returncode, [json.loads(l) for l in r.stdout.splitlines()], r.stderr


class WorkerProcessTest(unittest.TestCase):
    def test_ping_answers_and_shutdown_ends(self):
        code, answers, _ = worker({"id": 1, "method": "ping"}, {"id": 2, "method": "shutdown"})
        self.assertEqual(code, 0)
        self.assertEqual(answers, [{"id": 1, "result": {"worker": WORKER_VERSION}}])

    def test_unknown_method_is_an_error_answer_and_a_non_zero_exit(self):
        code, [answer], _ = worker({"id": 3, "method": "nope"})
        self.assertEqual(code, 1)
        self.assertEqual(answer["id"], 3)
        self.assertEqual(answer["error"]["code"], "WORKER_PROTOCOL")

    def test_prints_from_libraries_go_to_stderr_not_the_protocol(self):
        # A print() inside a method must not reach stdout: stdout is for protocol lines only.
        code = (
            "import sys, json; from qrun_worker.protocol import protocol_stdout; out = protocol_stdout(); "
            "print('noise from a library'); out.write(json.dumps({'id': 1, 'result': {}}) + '\\n'); out.flush()"
        )
        env = dict(os.environ, PYTHONPATH=WORKER_DIR)
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.stdout.splitlines(), ['{"id": 1, "result": {}}'])
        self.assertIn("noise from a library", r.stderr)

    def test_probe_reports_python_and_packages(self):
        env = dict(os.environ, PYTHONPATH=WORKER_DIR)
        r = subprocess.run([sys.executable, "-m", "qrun_worker.probe", "--no-cuda"], capture_output=True, text=True, env=env, timeout=120)
        info = json.loads(r.stdout)
        self.assertEqual(info["python"], "%d.%d.%d" % sys.version_info[:3])
        self.assertEqual(set(info["packages"]), {"torch", "transformers", "safetensors", "numpy", "onnx", "onnxruntime"})
        for pkg in info["packages"].values():
            self.assertTrue("version" in pkg or "error" in pkg)
