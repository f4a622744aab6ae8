"""Response side of PEP 3333 where httpd takes part, chosen by PATH_INFO:
streaming, a large file_wrapper, one error path of each kind, and close()
accounting. Run it with one child: module globals (CLOSES) are read back by
later requests. (Every other path is a unit test: tests/unit/.)"""
import json
import os
import time
from urllib.parse import parse_qs

# name -> how many times close() was called on that response
CLOSES = {}


class Tracked:
    """A response iterable that counts its close() calls; raise_at=<i>
    raises instead of item i."""

    def __init__(self, name, items, raise_at=None, sleep=0.0):
        self.name = name
        self.items = items
        self.raise_at = raise_at
        self.sleep = sleep
        CLOSES.setdefault(name, 0)

    def __iter__(self):
        for i, item in enumerate(self.items):
            if i == self.raise_at:
                raise RuntimeError("pympm-test-midstream-boom " + self.name)
            if self.sleep and i:
                time.sleep(self.sleep)
            yield item

    def close(self):
        CLOSES[self.name] += 1


def vm_hwm_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def text(start_response, body, status="200 OK", extra=()):
    body = body.encode() if isinstance(body, str) else body
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    plain = [("Content-Type", "text/plain")]

    # --- bookkeeping -------------------------------------------------------
    if path == "/pid":
        return text(start_response, str(os.getpid()))
    if path == "/closes":
        return text(start_response, json.dumps(CLOSES, sort_keys=True))
    if path == "/hwm":
        return text(start_response, json.dumps({"pid": os.getpid(), "vm_hwm_kib": vm_hwm_kib()}))

    # --- streaming ---------------------------------------------------------
    if path == "/stream_sleep":

        def gen():
            yield b"first\n"
            time.sleep(float(q.get("sleep", "1")))
            yield b"second\n"

        start_response("200 OK", plain)
        return Tracked("stream_sleep", gen())
    if path == "/endless":
        # Until the client goes away (bounded: 4096 x 64 KiB).
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Tracked("endless", [b"z" * 65536] * 4096, sleep=0.001)

    # --- file_wrapper ------------------------------------------------------
    if path == "/file":
        f = open(q["path"], "rb")
        if "seek" in q:
            f.seek(int(q["seek"]))
        headers = [("Content-Type", "application/octet-stream")]
        if "cl" in q:
            headers.append(("Content-Length", q["cl"]))
        headers.append(("X-Vm-Hwm-Before", str(vm_hwm_kib())))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, 65536)

    # --- one error path of each kind ----------------------------------------
    if path == "/raise_before":
        raise RuntimeError("pympm-test-raise-before")
    if path == "/cl_longer":
        start_response("200 OK", plain + [("Content-Length", "5")])
        return [b"12345", b"MUST-NOT-BE-SENT"]
    if path == "/cl_shorter":
        start_response("200 OK", plain + [("Content-Length", "100")])
        return [b"only ten.."]
    if path == "/midstream_raise":
        start_response("200 OK", plain)
        return Tracked("midstream_raise", [b"partial-1\n", b"partial-2\n", b"never\n"], raise_at=2)

    return text(start_response, "unknown path %s\n" % path, "404 Not Found")
