"""Fails to import until the file `ready` exists beside it; then takes
0.5 s to import (the GIL is released meanwhile, as in any slow import), so
that concurrent requests after the fix race for the import retry
(tests/e2e/test_python_conformance.cpp, issue 10 item 3)."""
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if not os.path.exists(os.path.join(HERE, "markers", "ready")):
    raise RuntimeError("not ready yet")
time.sleep(0.5)


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"imported\n"]
