"""wsgi.input where httpd takes part, chosen by PATH_INFO: the body read and
echoed, an app that never reads its body, a read the client makes wait, and
the body errors the app sees (LimitRequestBody, client gone), recorded in
LAST_ERROR for a later request (one child). Each reading method is a unit
test (tests/unit/test_wsgi_input.cpp)."""
import json
import os
import threading
import time

LAST_ERROR = {}
TICKS = [0]


def _ticker():
    while True:
        TICKS[0] += 1
        time.sleep(0.01)


_ticker_thread = None


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    inp = environ["wsgi.input"]
    name = path.strip("/")

    if name == "read":
        body = inp.read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))])
        return [body]

    if name == "ignore":
        body = b"body not read\n"
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    if name in ("read_until_error", "read_until_error_raise"):
        got = 0
        try:
            while True:
                b = inp.read(65536)
                if not b:
                    break
                got += len(b)
        except Exception as e:
            LAST_ERROR.clear()
            LAST_ERROR.update(
                {
                    "type": type(e).__name__,
                    "is_oserror": isinstance(e, OSError),
                    "message": str(e),
                    "got": got,
                    "pid": os.getpid(),
                }
            )
            if name == "read_until_error_raise":
                raise
            body = b"caught " + type(e).__name__.encode() + b"\n"
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [body]
        body = ("read %d bytes\n" % got).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    if name == "write_then_read":
        # The response begins before the body is read: a body httpd refuses
        # now ends a response that is under way.
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"begun\n")
        try:
            got = len(inp.read())
        except OSError:
            return []  # the response ends here
        return [("read %d bytes\n" % got).encode()]

    if name == "read_ticks":
        # How far a background thread got while this request was blocked
        # reading a body the client sends slowly: the read must not hold
        # the GIL.
        global _ticker_thread
        if _ticker_thread is None:
            _ticker_thread = threading.Thread(target=_ticker, name="ticker", daemon=True)
            _ticker_thread.start()
        before = TICKS[0]
        t0 = time.monotonic()
        data = inp.read()
        body = json.dumps({"ticks": TICKS[0] - before, "seconds": time.monotonic() - t0, "size": len(data)}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    if name == "last_error":
        body = json.dumps(dict(LAST_ERROR, pid_now=os.getpid())).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"unknown\n"]
