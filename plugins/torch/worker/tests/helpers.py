"""What the tests share: optional imports (a test that needs torch is skipped without it, so the
pure parts run anywhere) and paths."""
import importlib.util
import os
import unittest

WORKER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.abspath(os.path.join(WORKER_DIR, "..", "..", ".."))


def has(*modules):
    return all(importlib.util.find_spec(m) is not None for m in modules)


def needs(*modules):
    return unittest.skipUnless(has(*modules), f"needs {', '.join(modules)}")
