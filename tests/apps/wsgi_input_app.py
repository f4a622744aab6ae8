"""wsgi.input, read back through one reading method chosen by PATH_INFO; the
body is echoed so the test can compare it byte for byte. Also: an app that
never reads its body, and the body errors the app sees (LimitRequestBody,
client gone), recorded in LAST_ERROR for a later request (one child)."""
import json
import os
import threading
import time
from urllib.parse import parse_qs

LAST_ERROR = {}
TICKS = [0]


def _ticker():
    while True:
        TICKS[0] += 1
        time.sleep(0.01)


_ticker_thread = None


def read_all(inp, n):
    return inp.read()


def read_minus1(inp, n):
    return inp.read(-1)


def read_none(inp, n):
    return inp.read(None)


def read_n(inp, n):
    parts = []
    while True:
        b = inp.read(n)
        if not b:
            break
        assert len(b) <= n, (len(b), n)
        parts.append(b)
    return b"".join(parts)


def readline(inp, n):
    parts = []
    while True:
        line = inp.readline()
        if not line:
            break
        parts.append(line)
    return b"".join(parts)


def readline_limit(inp, n):
    parts = []
    while True:
        line = inp.readline(n)
        if not line:
            break
        assert len(line) <= n, (len(line), n)
        parts.append(line)
    return b"".join(parts)


def readlines(inp, n):
    return b"".join(inp.readlines())


def readlines_hint(inp, n):
    parts = []
    while True:
        lines = inp.readlines(n)
        if not lines:
            break
        parts.extend(lines)
    return b"".join(parts)


def iterate(inp, n):
    return b"".join(line for line in inp)


METHODS = {
    "read": read_all, "read_minus1": read_minus1, "read_none": read_none, "read_n": read_n,
    "readline": readline, "readline_limit": readline_limit, "readlines": readlines,
    "readlines_hint": readlines_hint, "iter": iterate,
}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    inp = environ["wsgi.input"]
    name = path.strip("/")

    if name in METHODS:
        body = METHODS[name](inp, int(q.get("n", "8192")))
        # At the end of the body every method keeps returning nothing.
        assert inp.read() == b"" and inp.read(10) == b"" and inp.readline() == b""
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body))),
                                  ("X-Input-Terminated", str(environ.get("wsgi.input_terminated"))),
                                  ("X-Content-Length", environ.get("CONTENT_LENGTH", "<absent>"))])
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
            LAST_ERROR.update({"type": type(e).__name__, "is_oserror": isinstance(e, OSError),
                               "message": str(e), "got": got, "pid": os.getpid()})
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
        body = json.dumps({"ticks": TICKS[0] - before, "seconds": time.monotonic() - t0,
                           "size": len(data)}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    if name == "last_error":
        body = json.dumps(dict(LAST_ERROR, pid_now=os.getpid())).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"unknown\n"]
