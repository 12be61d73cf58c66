"""JSON lines between qrun (TypeScript) and the worker.

Requests, one per line on stdin:   {"id": 1, "method": "calibrate", "params": {...}}
                                   {"id": 2, "method": "shutdown"}   (or end of input)
Answers, one per line on stdout:   {"id": 1, "event": {"type": "progress", "message": "...", "done": 3, "total": 9}}
                                   {"id": 1, "event": {"type": "log", "level": "warn", "message": "..."}}
                                   {"id": 1, "result": {...metrics}}
                                   {"id": 1, "error": {"type", "message", "summary", "traceback", "code"?, "hint"?}}

Only these lines go to the real stdout: the worker moves file descriptor 1 onto stderr before any
library is imported, so a stray print() in torch or transformers cannot break the protocol.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from typing import IO, Any, Callable


class WorkerError(Exception):
    """A failure the user can act on: its code and hint reach the QrunError on the TS side."""

    def __init__(self, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.code = code
        self.hint = hint


def summarise_exception(exc: BaseException) -> str:
    """The last frame and the exception: `file.py:123 in fn: ValueError: bad thing`."""
    frames = traceback.extract_tb(exc.__traceback__)
    head = f"{type(exc).__name__}: {exc}".strip()
    if not frames:
        return head
    last = frames[-1]
    return f"{os.path.basename(last.filename)}:{last.lineno} in {last.name}: {head}"


def error_payload(exc: BaseException) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": type(exc).__name__,
        "message": str(exc),
        "summary": summarise_exception(exc),
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }
    if isinstance(exc, WorkerError):
        payload["code"] = exc.code
        if exc.hint:
            payload["hint"] = exc.hint
    return payload


class Channel:
    """Writes protocol lines; `emit` is what the methods get to report progress."""

    def __init__(self, out: IO[str]):
        self.out = out

    def send(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(obj, sort_keys=True, allow_nan=False, default=_jsonable) + "\n")
        self.out.flush()

    def emitter(self, request_id: Any) -> Callable[..., None]:
        def emit(message: str, done: int | None = None, total: int | None = None, level: str | None = None) -> None:
            if level:
                event: dict[str, Any] = {"type": "log", "level": level, "message": message}
            else:
                event = {"type": "progress", "message": message}
                if done is not None:
                    event["done"] = done
                if total is not None:
                    event["total"] = total
            self.send({"id": request_id, "event": event})

        return emit


def _jsonable(value: Any) -> Any:
    # numpy scalars and the like: JSON has numbers, nothing else.
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def serve(lines: IO[str], channel: Channel, dispatch: Callable[[str, dict[str, Any], Callable[..., None]], Any]) -> int:
    """Answers requests until `shutdown` or end of input. Returns the number of failed requests."""
    failures = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            request_id = request.get("id")
            method = request["method"]
        except Exception as e:  # not JSON, or no method: answer with id null
            failures += 1
            channel.send({"id": None, "error": error_payload(WorkerError("WORKER_PROTOCOL", f"bad request line: {e}"))})
            continue
        if method == "shutdown":
            break
        try:
            result = dispatch(method, request.get("params") or {}, channel.emitter(request_id))
            channel.send({"id": request_id, "result": result if result is not None else {}})
        except BaseException as e:  # noqa: BLE001 - everything goes back to qrun, even KeyboardInterrupt
            failures += 1
            channel.send({"id": request_id, "error": error_payload(e)})
            if isinstance(e, KeyboardInterrupt):
                break
    return failures


def protocol_stdout() -> IO[str]:
    """A private copy of stdout for protocol lines; fd 1 itself then points at stderr."""
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", encoding="utf-8", buffering=1)
