"""Routes for the status page's list of current requests
(tests/e2e/test_status_requests.cpp): requests that stay in the app, or in
reading their body, until the test lets them go."""
import os
import time
from urllib.parse import parse_qs


def _text(start_response, body, status="200 OK"):
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


def _wait_for(path, limit=60.0):
    deadline = time.monotonic() + limit
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path == "/hello":
        return _text(start_response, "hello from %d\n" % os.getpid())
    if path.startswith("/hold"):
        # Stays in the app until the file `gate` exists (any path below
        # /hold: the test picks hostile ones).
        print("hold begins", flush=True)
        _wait_for(q["gate"])
        return _text(start_response, "released %d\n" % os.getpid())
    if path == "/upload":
        # Reads the body the client sends slowly.
        n = len(environ["wsgi.input"].read())
        return _text(start_response, "read %d\n" % n)
    if path == "/status":
        code = int(q.get("code", "200"))
        return _text(start_response, "status %d\n" % code, status="%d Status %d" % (code, code))
    if path == "/raise":
        raise RuntimeError("raised on purpose")
    return _text(start_response, "no route\n", status="404 Not Found")
