import io
import json
import unittest

from qrun_worker.protocol import Channel, WorkerError, serve, summarise_exception


def run(lines, dispatch):
    out = io.StringIO()
    failures = serve(io.StringIO("".join(json.dumps(l) + "\n" if not isinstance(l, str) else l for l in lines)), Channel(out), dispatch)
    return failures, [json.loads(l) for l in out.getvalue().splitlines()]


def inner_failure():
    raise ValueError("scale must be positive")


class ServeTest(unittest.TestCase):
    def test_events_then_result(self):
        def dispatch(method, params, emit):
            emit("step 1", done=1, total=2)
            emit("careful", level="warn")
            return {"echo": params["x"], "method": method}

        failures, answers = run([{"id": 7, "method": "m", "params": {"x": 3}}], dispatch)
        self.assertEqual(failures, 0)
        self.assertEqual(answers[0], {"id": 7, "event": {"type": "progress", "message": "step 1", "done": 1, "total": 2}})
        self.assertEqual(answers[1], {"id": 7, "event": {"type": "log", "level": "warn", "message": "careful"}})
        self.assertEqual(answers[2], {"id": 7, "result": {"echo": 3, "method": "m"}})

    def test_error_carries_a_one_line_summary_and_the_full_traceback(self):
        def dispatch(method, params, emit):
            inner_failure()

        failures, [answer] = run([{"id": 1, "method": "m"}], dispatch)
        self.assertEqual(failures, 1)
        error = answer["error"]
        self.assertEqual(error["type"], "ValueError")
        self.assertRegex(error["summary"], r"^test_protocol\.py:\d+ in inner_failure: ValueError: scale must be positive$")
        self.assertIn("Traceback (most recent call last)", error["traceback"])
        self.assertNotIn("code", error)

    def test_worker_error_keeps_code_and_hint(self):
        def dispatch(method, params, emit):
            raise WorkerError("DATA_MISSING", "no train set", "add it")

        _, [answer] = run([{"id": 2, "method": "m"}], dispatch)
        self.assertEqual((answer["error"]["code"], answer["error"]["hint"]), ("DATA_MISSING", "add it"))

    def test_bad_line_is_answered_and_shutdown_stops(self):
        calls = []
        failures, answers = run(["not json\n", {"id": 1, "method": "shutdown"}, {"id": 2, "method": "m"}], lambda m, p, e: calls.append(m))
        self.assertEqual(failures, 1)
        self.assertEqual(answers[0]["id"], None)
        self.assertEqual(answers[0]["error"]["code"], "WORKER_PROTOCOL")
        self.assertEqual(calls, [])

    def test_summary_without_traceback(self):
        self.assertEqual(summarise_exception(KeyError("x")), "KeyError: 'x'")
